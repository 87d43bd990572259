"""What a run trains on: the model (new, or the stored one with new settings), its data
in (row, col, value) tables, the validation rows, standardization and class weights.

All of it runs inside the run's setup transaction (see :func:`sqlnet.train.train`).
"""
from __future__ import annotations

import dataclasses

from sqlglot import exp

from . import cells, many
from . import model as M
from .data import Loaded, Source, load, stage
from .db import Database
from .errors import SqlnetError
from .queries import column, model_keys, query, table
from .seeded import chain
from .settings import Settings


def prepare(db: Database, source: Source, targets: list[str], features: list[str] | None,
             s: Settings) -> tuple[M.Network, Loaded]:
    if not targets:
        raise SqlnetError("--target names no column")
    old = M.load(db).controls if db.has_model() else None
    net = _existing(db, source, targets, features, s) if old else \
        new_model(db, source, targets, features, s)
    models = _group_models(db, net, source, s, new=old is None)
    reset_state(db, net, old, models)
    loaded = load(db, source, M.feature_names(db, net.model), targets, net.model,
                  net.task, learn_classes=True, staged=old is None)  # new_model staged it
    if len(models) > 1:
        if old is None:
            many.copy_names(db, models)
        many.route_rows(db, s.group_by, source, local=True)
    if net.task == "classification":
        n = db.scalar(query("stored_class_count"), model=net.model)
        if n != net.widths[-1]:
            raise SqlnetError(f"the data has {n} classes but the output layer has "
                              f"{net.widths[-1]} units")
    v = s.validation.check() if s.validation else None
    if s.controls.get("patience") and v is None and s.epochs > 0:
        raise SqlnetError("--patience needs validation data: --validation-data FILE or "
                          "--validation-split F")
    hold_out(db, net.seed, v.split if v else None)
    fit_standardization(db, net, fit=True)
    for name in ("clear_valid_rows", "clear_valid_inputs", "clear_valid_targets"):
        db.run(query(name), model=net.model)
    store_valid(db, table("held_out"))
    for name in ("drop_held_out", "drop_held_out_inputs", "drop_held_out_targets"):
        db.run(query(name))
    if loaded.rows and not db.scalar(query("row_count_loaded")):
        raise SqlnetError("--validation-split leaves no training rows")
    class_weights(db, net)
    for name in ("clear_train_rows", "clear_train_inputs", "clear_train_targets"):
        for m in models:
            db.run(query(name), model=m)
    for name in ("store_train_rows", "store_train_inputs", "store_train_targets"):
        db.run(query(name))
    if v and v.source:
        load(db, v.source, M.feature_names(db, net.model), targets, net.model, net.task)
        if len(models) > 1:
            many.route_rows(db, s.group_by, v.source, local=True)
        fit_standardization(db, net, fit=False)
        store_valid(db, table("loaded_rows"))
    return net, loaded


def _group_models(db: Database, net: M.Network, source: Source, s: Settings,
                  new: bool) -> list[int]:
    """The models of this pass: one per group of the data with --group-by (created with the
    model), else the database's model."""
    column, models = many.stored_groups(db)
    if s.group_by is None:
        if column is not None:
            raise SqlnetError(f"the database holds one model per {column!r}; train it with "
                              f"--group-by {column}")
        return models
    if not new:
        if column != s.group_by:
            raise SqlnetError(f"the database's model was not trained --group-by {s.group_by}")
        for m in models[1:]:    # a warm start's settings apply to every group's model
            M.save_settings(db, dataclasses.replace(net, model=m))
        return models
    return many.create_group_models(db, net, s.group_by, many.group_values(db, s.group_by, source))


def hold_out(db: Database, seed: int, share: float | None) -> None:
    """The rows --validation-split holds out, chosen by the `mix` hash of (seed, row)."""
    if share is None:
        db.run(query("no_held_out"))
    else:
        db.run(query("held_out", key=chain("$seed * 1000037 + 7", "r.row")), share=share, seed=seed)


def store_valid(db: Database, rows: exp.Expression) -> None:
    for name in ("store_valid_rows", "store_valid_inputs", "store_valid_targets"):
        db.run(query(name, rows=rows))


def standardize(db: Database, net: M.Network) -> None:
    """Scale loaded_inputs with the model's stored statistics (predict and evaluate)."""
    if net.controls.standardize:
        db.run(query("standardized_inputs"))


def fit_standardization(db: Database, net: M.Network, fit: bool) -> None:
    """--standardize: statistics from the first standardized run's training rows (a warm
    start keeps them, since the weights were learned for them), then the loaded inputs scaled."""
    if not net.controls.standardize:
        db.run(query("clear_standardization"), model=net.model)
        return
    if fit and not db.scalar(query("standardization_count"), model=net.model):
        db.run(query("train_part"))
        db.run(query("store_standardization"))
    db.run(query("standardized_inputs"))


def class_weights(db: Database, net: M.Network) -> None:
    """--class-weight: 'balanced' from the training targets, or label=weight pairs."""
    spec = net.controls.class_weight
    if spec is None or net.task != "classification":
        if spec is not None:
            raise SqlnetError("--class-weight goes with loss cross_entropy")
        return
    db.run(query("clear_class_weights"), model=net.model)
    if spec == "balanced":
        db.run(query("balanced_class_weights"), model=net.model)
        return
    labels = {r[0] for r in db.rows(query("class_labels"), model=net.model)}
    db.run(query("unit_class_weights"), model=net.model)
    for label, weight in _weight_pairs(spec):
        if label not in labels:
            raise SqlnetError(f"--class-weight names {label!r}, which is not a class of the model")
        db.run(query("set_class_weight"), model=net.model, label=label, weight=weight)


def _weight_pairs(spec: str) -> list[tuple[str, float]]:
    pairs = []
    for part in spec.split(","):
        label, sep, weight = part.rpartition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not value >= 0:
            raise SqlnetError(f"--class-weight takes 'balanced' or label=weight pairs with "
                              f"weights ≥ 0, e.g. 'a=1,b=5'; got {spec!r}")
        pairs.append((label, value))
    return pairs


def _existing(db, source, targets, features, s: Settings) -> M.Network:
    db.create_schema()  # a database of an older sqlnet gains the newer tables and columns
    net = M.load(db)
    stored_t = M.target_names(db, net.model)
    if stored_t and targets != stored_t:
        raise SqlnetError(f"the model was trained on target {','.join(stored_t)}, "
                          f"not {','.join(targets)}")
    stored_f = M.feature_names(db, net.model)
    if features and features != stored_f:
        raise SqlnetError(f"the model's features are {','.join(stored_f)}; "
                          f"--features asks for {','.join(features)}")
    if not stored_f:  # made by `sqlnet init`: the data names the features now
        types = columns(db, source)
        _store_names(db, [net.model], _features(types, targets, features), targets)
    net = M.replace(net, **{k: getattr(s, k) for k in ("lr", "batch_size", "seed", "shuffle")
                            if getattr(s, k) is not None},
                    controls=controls(net.controls, s.controls))
    n = len(M.feature_names(db, net.model))
    if n != net.widths[0]:
        raise SqlnetError(f"the data has {n} features but the model's first layer takes "
                          f"{net.widths[0]}")
    M.replace(net).check()
    M.save_settings(db, net)
    return net


def new_model(db, source, targets, features, s: Settings) -> M.Network:
    """A new model 0 for source, which is staged here."""
    if s.group_by is not None:
        many.wide(source)
    return new_models(db, source, targets, features, {0: s}, columns(db, source))[0]


def new_models(db, source, targets, features, settings: dict[int, Settings],
               types: dict[str, str]) -> list[M.Network]:
    """New models for the staged source (of column types ``types``), model k with
    settings[k] (a sweep's: they differ in lr, hidden, seed and batch size only). The
    data's features and classes are read once, and the models created together."""
    group_by = next(iter(settings.values())).group_by
    if group_by is not None and group_by not in types:
        raise SqlnetError(f"{source} has no group column {group_by!r}")
    feats = _features(types, targets + ([group_by] if group_by else []), features)
    for t in targets:
        if t not in types:
            raise SqlnetError(f"{source} has no {'cells of target' if source.long else 'target column'} {t!r}")
    losses = {k: _loss(s, targets, types) for k, s in settings.items()}
    outputs = {loss: _outputs(db, source, targets, loss) for loss in set(losses.values())}
    nets = [M.Network(widths=[len(feats), *s.hidden, outputs[losses[k]]], activation=s.activation,
                      output_activation=s.output_activation, loss=losses[k],
                      lr=0.1 if s.lr is None else s.lr,
                      batch_size=32 if s.batch_size is None else s.batch_size,
                      seed=0 if s.seed is None else s.seed,
                      shuffle=True if s.shuffle is None else s.shuffle,
                      controls=controls(None, s.controls), model=k)
            for k, s in settings.items()]
    M.create_all(db, nets)
    _store_names(db, list(settings), feats, targets)
    return nets


def _loss(s: Settings, targets: list[str], types: dict[str, str]) -> str:
    """The given loss, else cross_entropy for one column of labels and mse for numbers."""
    return s.loss or ("cross_entropy" if len(targets) == 1 and
                      not types[targets[0]].startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT",
                                                        "FLOAT", "DOUBLE", "DECIMAL"))
                      else "mse")


def _outputs(db: Database, source: Source, targets: list[str], loss: str) -> int:
    """The output layer's width: the classes of the label column, else a unit a target."""
    if loss != "cross_entropy":
        return len(targets)
    if len(targets) != 1:
        raise SqlnetError("cross_entropy takes one target column, the class labels")
    return cells.class_count(db, targets[0]) if source.long else \
        db.scalar(query("class_count", label=column(targets[0], "s")))


def columns(db: Database, source: Source) -> dict[str, str]:
    """Stage the source; its columns (a long source's column names) and their types."""
    return cells.columns(db, source) if source.long else stage(db, source)


def controls(old: M.Controls | None, given: dict) -> M.Controls:
    """The stored controls with the given ones set. AdamW's weight decay defaults to 0.01, as
    in PyTorch, when the optimizer becomes adamw without a --weight-decay."""
    unknown = set(given) - set(M.CONTROLS)
    if unknown:
        raise SqlnetError(f"unknown training control(s): {', '.join(sorted(unknown))}")
    new = M.Controls(**{**dataclasses.asdict(old or M.Controls()), **given})
    if new.optimizer == "adamw" and "weight_decay" not in given and \
            (old is None or old.optimizer != "adamw"):
        new.weight_decay = 0.01
    return new.check()


def reset_state(db: Database, net: M.Network, old: M.Controls | None,
                models: list[int] | None = None) -> None:
    """Start the optimizer from zero state when it is new; keep its state when it is not.
    ``models``: the models of the pass, which share net's controls and were trained (or
    not) together, else net's."""
    keys = model_keys(models or [net.model])
    if old is not None and old.optimizer == net.controls.optimizer and \
            db.scalar(query("state_rows", models=keys)):
        return
    db.run(query("clear_state", models=keys))
    for name in net.controls.state:
        db.run(query("init_state", models=keys), name=name)
    if net.controls.state:
        db.run(query("init_steps", models=keys))


def _features(types: dict[str, str], targets: list[str], features: list[str] | None) -> list[str]:
    feats = features or [c for c in types if c not in targets]
    if not feats:
        raise SqlnetError("the data has no feature columns besides the target")
    return feats


def _store_names(db: Database, models: list[int], features: list[str],
                 targets: list[str]) -> None:
    """The models' feature and target names (the same for every model of a pass)."""
    for name, names in (("feature_names", features), ("target_names", targets)):
        db.run(query("forget_models", table=table(name), models=model_keys(models)))
        db.insert(name, ["model", "col", "name"],
                  [[m, i, n] for m in models for i, n in enumerate(names)])
