"""The phases of backpropagation, composed from sql/ into statements.

forward, error and backward build the common table expressions (CTEs) of one query; a
training step runs them as a single statement whose result, the tape, feeds the update.

>>> net = Network([2, 2, 2], loss="half_sse").check()
>>> [name for name, _ in forward(net, "epoch_rows", "epoch_inputs")]
['batch_rows', 'a0', 'z1', 'a1', 'z2', 'a2']
"""
from __future__ import annotations

from sqlglot import exp

from .model import Network
from .queries import column, expression, number, query, string, substitute, table
from .seeded import chain

CTE = tuple[str, exp.Expression]


def activation(name: str, a: str = "value") -> tuple[exp.Expression, exp.Expression]:
    """f and f' of an activation (sql/activations.sql), f over z.value and f' over a.<a>."""
    z, a = column("value", "z"), column(a, "a")
    return (substitute(expression(name, "f"), z=z, a=a),
            substitute(expression(name, "df"), z=z, a=a))


def forward(net: Network, rows: str, inputs: str, dropout: bool = False,
            sparse: bool = False, rowid: bool = False) -> list[CTE]:
    """batch_rows, a0, then z_l and a_l for every layer: the forward phase.

    With dropout (training only), each hidden a_l is followed by d_l, the kept units scaled
    by 1/(1 − p), and the layer above reads d_l. With sparse (a wide layer 1 that a batch
    reaches only in part), layer 1's products are kept as p1 for the gradient, with each
    weight's DuckDB rowid when rowid.
    """
    ctes = [("batch_rows", query("rows", rows=table(rows))),
            ("a0", query("inputs", inputs=table(inputs), rows=table("batch_rows")))]
    if sparse:
        rid = column("rowid", "w") if rowid else _parse("CAST(NULL AS BIGINT)")
        ctes.append(("p1", query("products", acts=table("a0"), rid=rid)))
    for layer, act in enumerate(net.activations, start=1):
        # layer 1 reads the sparse inputs (a sample may have none stored); the others a
        # hidden layer's output, which holds every unit of every sample
        ctes.append((f"z{layer}", _linear(layer, dropout, sparse)))
        if act == "softmax" and layer == net.depth:
            ctes.append((f"terms{layer}", query("softmax_terms", z=table(f"z{layer}"))))
        ctes.append((f"a{layer}", _activate(net, layer, act)))
        if dropout and layer < net.depth:
            ctes.append((f"d{layer}", _dropout(layer)))
    return ctes


def _linear(layer: int, dropout: bool, sparse: bool) -> exp.Expression:
    if layer == 1 and sparse:
        return query("linear_products", products=table("p1"), rows=table("batch_rows"))
    return query("linear" if layer == 1 else "linear_dense", acts=table(acts(layer - 1, dropout)),
                 rows=table("batch_rows"), layer=number(layer))


def acts(layer: int, dropout: bool) -> str:
    """The CTE holding what layer + 1 reads: a_l, or d_l under dropout (never the inputs)."""
    return f"d{layer}" if dropout and layer > 0 else f"a{layer}"


def _dropout(layer: int) -> exp.Expression:
    u = chain("m.seed * 1000033 + $epoch", "$batch", "a.row", "a.col + :layer * 1000003")
    return query("dropout", u=exp.replace_placeholders(u, layer=number(layer)),
                 acts=table(f"a{layer}"))


def _activate(net: Network, layer: int, act: str) -> exp.Expression:
    z = table(f"z{layer}")
    if layer < net.depth:
        return query("activate", f=activation(act)[0], z=z, rows=table("batch_rows"))
    if act == "softmax":
        return query("softmax_output", z=z, terms=table(f"terms{layer}"))
    return query("output", f=activation(act)[0], z=z)


def error(net: Network, targets: str) -> list[CTE]:
    """y, the batch loss and the output delta Δᴸ: the error phase."""
    L = net.depth
    io = {"out": table(f"a{L}"), "z": table(f"z{L}"), "y": table("y"), "rows": table("batch_rows")}
    df = activation(net.activations[-1])[1]
    name = net.loss
    ctes = [("y", query("targets", targets=table(targets)))]
    if net.loss == "cross_entropy":
        ctes.append(("nll", query("nll", z=io["z"], y=io["y"], terms=table(f"terms{L}"))))
    if net.loss == "cross_entropy" and net.controls.class_weight:
        name = "cross_entropy_weighted"
        ctes.append(("row_weights", query("row_weights", y=table("y"))))
    return ctes + [("loss", _fill(f"loss_{name}", io)),
                   (f"delta{L}", _fill(f"delta_{name}", {**io, "df": df}))]


def backward(net: Network, dropout: bool = False, sparse: bool = False) -> list[CTE]:
    """The hidden deltas from the top down, then every layer's gradient (layer 1's from the
    kept products p1, with sparse)."""
    ctes = []
    for layer in range(net.depth - 1, 0, -1):
        act = net.activations[layer - 1]
        delta = query("hidden_delta_dropout", df=activation(act, "raw")[1]) if dropout else \
            query("hidden_delta", df=activation(act)[1])
        ctes.append((f"delta{layer}", exp.replace_placeholders(
            delta, delta=table(f"delta{layer + 1}"), layer=number(layer + 1),
            acts=table(acts(layer, dropout)))))
    for layer in range(1, net.depth + 1):
        ctes.append((f"grad{layer}", query(
            "gradient_products", products=table("p1"), delta=table("delta1"))
            if layer == 1 and sparse else query(
            "gradient", acts=table(acts(layer - 1, dropout)), delta=table(f"delta{layer}"))))
    return ctes


def update(net: Network, every: bool = False, sparse: bool = False,
           rowid: bool = False) -> list[CTE]:
    """The update phase: each parameter's new value (`new`) and optimizer state.

    Plain SGD without a penalty only touches the parameters that have a gradient (unless
    every: then the others come out unchanged); every other setting moves all of them.
    With sparse, plain SGD takes layer 1's touched weights from grad1 (gradient_products),
    and reads no other layer-1 weight; with rowid too (and no clipping), `new` keeps each
    layer-1 weight's rowid (rid), for the tape's param_rowid rows.
    """
    c = net.controls
    grads = [query("layer_gradients", source=table(f"grad{layer}"), layer=number(layer))
             for layer in range(1, net.depth + 1)]
    dense = c.optimizer != "sgd" or c.weight_decay > 0 or c.l1 > 0
    sparse = sparse and not (dense or every)
    ctes = [("grads", _union(grads)), ("lr", query("learning_rate")),
            ("params", query("parameters_above" if sparse else "parameters",
                             rows=table("batch_rows")))]
    touched = "touched_gradients_products" if sparse else "touched_gradients"
    ctes.append(("g0", _fill("all_gradients" if dense or every else touched,
                             {"grads": table("grads"), "params": table("params"),
                              "grad1": table("grad1")})))
    g = "g0"
    if c.clip_norm is not None:
        ctes += [("clip", query("clip", g=table(g))),
                 ("g1", query("clipped", g=table(g), clip=table("clip")))]
        g = "g1"
    if dense and c.optimizer != "adamw":
        ctes.append(("g2", query("decayed", g=table(g))))
        g = "g2"
    if c.state:
        ctes += [("state", query("state")),
                 ("steps", query("optimizer_steps", rows=table("batch_rows")))]
    keep = "1.0 - u.lr * u.weight_decay" if c.optimizer == "adamw" else "1.0"
    name = "adam" if c.optimizer == "adamw" else c.optimizer
    if sparse and rowid and g == "g0":
        name = "sgd_rowid"
    ctes.append(("new", _fill(name,
                              {"g": table(g), "lr": table("lr"), "state": table("state"),
                               "steps": table("steps"), "keep": exp.paren(_parse(keep))})))
    return ctes


def _parse(text: str) -> exp.Expression:
    import sqlglot
    return sqlglot.parse_one(text, dialect="duckdb")


def _union(parts: list[exp.Expression]) -> exp.Expression:
    body = parts[0]
    for part in parts[1:]:
        body = exp.union(body, part, distinct=False, copy=False)
    return body


def _fill(name: str, available: dict[str, exp.Expression]) -> exp.Expression:
    tree = query(name)
    wanted = {p.name for p in tree.find_all(exp.Placeholder)} & set(available)
    return exp.replace_placeholders(tree, **{k: available[k] for k in wanted})


def with_ctes(body: exp.Query, ctes: list[CTE], only: set[str] | None = None) -> exp.Query:
    """body, preceded by WITH name AS MATERIALIZED (...) for every CTE (or for those in
    only, the others left to the engine)."""
    for name, tree in ctes:
        keep = only is None or name in only
        body = body.with_(name, as_=tree, materialized=True if keep else None, copy=False)
    return body


def tape(net: Network, with_update: bool = True, full: bool = True,
         rowid: bool = False) -> exp.Query:
    """The union of every intermediate, labelled by kind and layer (and of the update phase's
    new values, state and scalars, unless with_update is False). Unless full, of the
    intermediates only the loss: what the check reads beside the new values (a non-finite
    gradient makes its parameter's new value non-finite, with every optimizer: the check of
    the new values is the check of the gradients; the gradients were half of a wide sparse
    step's tape). With rowid, the new values of `new` that have a rowid (rid) are kind
    param_rowid, with the rowid as row (apply_weights_rowid)."""
    parts = [query("tape_loss", source=table("loss"), layer=number(net.depth))]
    kinds = (("z", "z"), ("activation", "a"), ("delta", "delta"), ("gradient", "grad"))
    for layer in range(1, net.depth + 1):
        for kind, name in kinds if full else ():
            parts.append(query("tape_rows", source=table(f"{name}{layer}"),
                               kind=string(kind), layer=number(layer)))
    if not with_update:
        return _union(parts)
    if rowid:
        parts += [query("tape_update_keyed", source=table("new")),
                  query("tape_update_rowid", source=table("new"))]
    for kind in () if rowid else ("param", *net.controls.state):
        parts.append(query("tape_update", source=table("new"), kind=string(kind),
                           value=column(kind, "u")))
    scalars = [("lr", "lr", "lr")]
    if net.controls.clip_norm is not None:
        scalars.append(("grad_norm", "clip", "norm"))
    if net.controls.state:
        scalars.append(("step", "steps", "t"))
    for kind, source, value in scalars:
        parts.append(query("tape_scalar", source=table(source), kind=string(kind),
                           value=column(value, "s")))
    return _union(parts)


def step(net: Network, full: bool = True) -> exp.Expression:
    """One training step's forward, error, backward and update phases as one statement.

    Its tape keeps every intermediate (full), or only the loss, the gradients and the update:
    a run's steps but its last take the lean tape, since only the last is kept (last_step).
    """
    return steps(net, (full,))[0]


def steps(net: Network, tapes: tuple[bool, ...] = (False, True),
          sparse: bool = False, rowid: bool = False) -> list[exp.Expression]:
    """The step statement with each of the tapes (full or not), composed once. With sparse
    (see :func:`sparse_applies`), plain SGD keeps layer 1's products for its gradient and
    reads only the weights the batch reaches; with rowid too (DuckDB), the lean tapes hand
    layer 1's new weights over by rowid (:func:`rowid_applies`)."""
    dropout = net.controls.dropout > 0
    sparse = sparse and sparse_applies(net)
    composed = {}

    def ctes(by_rowid: bool) -> list[CTE]:
        if by_rowid not in composed:
            composed[by_rowid] = (
                forward(net, "epoch_rows", "epoch_inputs", dropout, sparse, by_rowid)
                + error(net, "epoch_targets") + backward(net, dropout, sparse)
                + update(net, sparse=sparse, rowid=by_rowid))
            return composed[by_rowid]
        return [(name, tree.copy()) for name, tree in composed[by_rowid]]
    out = []
    for full in tapes:
        by_rowid = rowid and not full and rowid_applies(net, sparse)
        # the sparse step materializes only the products, which both phases read: the rest
        # left to the engine took 0.84-0.99 (median of four runs 0.9) of the step's time
        body = with_ctes(exp.select("*").from_(exp.paren(
            tape(net, full=full, rowid=by_rowid)).as_("t")), ctes(by_rowid),
            {"p1"} if sparse else None)
        create = query("step", tape=table("placeholder"))
        create.set("expression", body)
        out.append(create)
    return out


def sparse_applies(net: Network) -> bool:
    """Whether the sparse layer-1 path can apply to the network at all: plain SGD without a
    penalty (every other optimizer setting moves every weight every step)."""
    c = net.controls
    return c.optimizer == "sgd" and c.weight_decay == 0 and c.l1 == 0


def rowid_applies(net: Network, sparse: bool) -> bool:
    """Whether a lean sparse step hands layer 1's new weights over by rowid: the sparse path
    without clipping (the clipped gradient does not carry the rowid)."""
    return sparse and sparse_applies(net) and net.controls.clip_norm is None


# The tables a step reads that a chunk's iteration reads from the recursion instead (the
# biases only through params: the chunk's forward products and update read it) ...
CHUNK_TABLES = {"weights": "chunk_weights", "optimizer_state": "chunk_state"}
# ... and from the chunk's copy of its batches and of its model's settings.
CHUNK_DATA = {"epoch_rows": "chunk_rows", "epoch_inputs": "chunk_inputs",
              "epoch_targets": "chunk_targets", "models": "chunk_models",
              "class_weights": "chunk_class_weights"}
# The CTEs of a step that read its batch, and what a chunk's iteration reads instead: the
# batch of its slot in the chunk's copy of the epoch tables.
CHUNK_BATCH = {"batch_rows": "chunk_batch_rows", "a0": "chunk_batch_inputs",
               "y": "chunk_batch_targets"}
# The bound parameters of a step that a chunk's iteration takes from chunk_position.
CHUNK_POSITION = ("batch", "epoch", "e")


def chunk(net: Network, materialized: bool = True, validate: bool = False,
          many: bool = False) -> exp.Expression:
    """$k optimizer steps as ONE statement, for DuckDB (sql/chunk.sql): a recursive CTE
    whose iteration is a step's forward, error, backward and update CTEs over the iteration's
    parameters. Its result, step_tape, holds the new parameters and state, as after one step,
    and every step's loss and learning rate. The iteration's CTEs are MATERIALIZED, or (not
    materialized) left to DuckDB. With validate, an epoch's last step also scores the
    validation rows and takes early stopping's test (:func:`chunk_validation`). A chunk of
    many models (many) keeps the `model` key, and carries the parameters of the models
    without rows in an iteration's batch on unchanged (chunk_kept).
    """
    dropout = net.controls.dropout > 0
    ctes = (forward(net, "epoch_rows", "epoch_inputs", dropout) + error(net, "epoch_targets")
            + backward(net, dropout) + update(net, every=True))
    renamed = {**CHUNK_TABLES, **CHUNK_DATA}

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in renamed and not node.args.get("db"):
            return exp.Table(this=exp.to_identifier(renamed[node.name]),
                             alias=node.args.get("alias"))
        return node

    one = (lambda tree: tree) if many else _one_model
    ctes = [(name, _chunk_cte(name, tree, dropout)) for name, tree in ctes if name != "params"]
    ctes[1:1] = [("params", query("chunk_params"))] + ([("kept", query("chunk_kept"))] if many else [])
    if validate:
        ctes += chunk_validation(net, many)
    ctes = [(name, one(tree.transform(swap))) for name, tree in ctes]
    head = [("chunk_current", query("chunk_current")), ("chunk_position", query("chunk_position"))]
    head += [(name, query(name)) for name in CHUNK_TABLES.values()]
    parts = [query("chunk_param", kind=string("param"), value=column("param", "u"))]
    parts += [query("chunk_param", kind=string(kind), value=column(kind, "u"))
              for kind in net.controls.state]
    if net.controls.state:
        parts.append(query("chunk_step_count"))
    parts.append(query("chunk_log"))
    if many:
        parts.append(exp.select("*").from_("kept"))
    if validate:
        parts += [query(name) for name in ("chunk_eval_log", "chunk_best", "chunk_stop")]
    # (the validation's CTEs, read by several parts of the iteration, are always materialized)
    body = with_ctes(one(_union(parts)), head + ctes,
                     None if materialized else set())
    start = query("chunk_start")
    if validate:
        start = _union([start, query("chunk_start_best")])
    statement = query("chunk", start=exp.paren(start))
    recursion = next(c for c in statement.find_all(exp.CTE) if c.alias == "chunk_steps")
    recursion.this.set("expression", exp.Subquery(this=body))
    return statement


def chunk_validation(net: Network, many: bool = False) -> list[CTE]:
    """A chunk iteration's validation, after an epoch's last step: the CTEs of
    :func:`scores` over the validation rows (eval_rows, in batch 0), named v_..., whose
    forward products read the step's new parameters (v_params), then early stopping's test
    (v_improved). After any other step, v_params is empty, and so is all that reads it."""
    ctes = [(name, exp.replace_placeholders(tree, batch=number(0)))
            for name, tree in score_ctes(net, "eval_rows", "eval_inputs", "eval_targets")]
    ctes = [(name, _chunk_cte(name, tree, False) if _linear_name(name) else tree)
            for name, tree in ctes]
    named = {name for name, _ in ctes} | {"params"}

    def prefix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in named and not node.args.get("db"):
            return exp.Table(this=exp.to_identifier(f"v_{node.name}"),
                             alias=node.args.get("alias"))
        return node
    *ctes, (_, scored) = [(f"v_{name}", tree.transform(prefix)) for name, tree in ctes]
    params = query("chunk_eval_params")
    if many:  # the models that took their epoch's last step before are validated too
        params = _union([params, query("chunk_eval_kept")])
    return ([("v_params", params)] + ctes
            + [("v_scored", scored), ("v_scores", query("chunk_eval_scores")),
               ("v_improved", query("chunk_improved"))])


def _linear_name(name: str) -> bool:
    return name[0] == "z" and name[1:].isdigit()


def _chunk_cte(name: str, tree: exp.Expression, dropout: bool) -> exp.Expression:
    """A step's CTE as a chunk's iteration runs it: the batch's rows from the chunk's copy,
    and each Zˡ by chunk_linear (the bias as the weight of the constant-1 column)."""
    if name in CHUNK_BATCH:
        return query(CHUNK_BATCH[name])
    if _linear_name(name):
        layer = int(name[1:])
        return query("chunk_linear", acts=table(acts(layer - 1, dropout)), layer=number(layer))
    return _from_position(tree)


def _one_model(tree: exp.Expression) -> exp.Expression:
    """The chunk's model, $model, for every `model` column of an iteration's query (a chunk
    trains one model): joins on it become true, and GROUP BYs drop it."""
    model = exp.cast(exp.Placeholder(this="model"), "INT")
    for col in list(tree.find_all(exp.Column)):
        if col.name == "model" and col.table:
            named = isinstance(col.parent, exp.Select)  # a projection keeps its name
            col.replace(exp.alias_(model.copy(), "model") if named else model.copy())
    for group in list(tree.find_all(exp.Group)):
        keep = [e for e in group.expressions
                if not (isinstance(e, exp.Cast) and e.this == model.this)]
        if keep:
            group.set("expressions", keep)
        else:
            group.pop()
    return tree


def _from_position(tree: exp.Expression) -> exp.Expression:
    """A step's $batch, $epoch and $e read from the chunk's iteration instead: the SELECT
    that uses one is cross joined with chunk_position (one row) as chunk_p."""
    joined = set()
    for p in list(tree.find_all(exp.Placeholder)):
        if p.name not in CHUNK_POSITION:
            continue
        select = p.find_ancestor(exp.Select)
        if id(select) not in joined:
            select.join(exp.Table(this=exp.to_identifier("chunk_position"),
                                  alias=exp.TableAlias(this=exp.to_identifier("chunk_p"))),
                        join_type="cross", copy=False)
            joined.add(id(select))
        p.replace(column(p.name, "chunk_p"))
    return tree


def scores(net: Network, rows: str, inputs: str, targets: str) -> exp.Expression:
    """Per model: loss, accuracy (classifiers) or MSE and MAE, and sample count, over a
    data set in batch 0."""
    *ctes, (_, body) = score_ctes(net, rows, inputs, targets)
    return with_ctes(body, ctes)


def score_ctes(net: Network, rows: str, inputs: str, targets: str) -> list[CTE]:
    """The CTEs of :func:`scores`, the last (`scores`) the per-model scores."""
    ctes = forward(net, rows, inputs) + error(net, targets)[:-1]
    io = {"out": table(f"a{net.depth}"), "y": table("y")}
    name = {"regression": "regression_errors", "classification": "accuracy_classes"}.get(
        net.task, "accuracy_binary")
    return ctes + [("scores", query("scores", metrics=exp.paren(query(name, **io))))]
