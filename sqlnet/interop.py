"""Weights in and out: numpy arrays, ``.npz`` files and PyTorch state_dicts.

A network of L layers maps to ``torch.nn.Sequential(Linear, act, Linear, act, ..., Linear)``:
layer l is module ``2·(l − 1)``, so its keys are ``"0.weight"``, ``"0.bias"``, ``"2.weight"``,
... and a weight is laid out out × in, the transpose of sqlnet's (row = input unit). An
``.npz`` file holds the same keys (float64, so a round trip is exact), plus ``meta.*``
arrays describing the model for readers.

>>> key(1), key(3, "bias")
('0.weight', '4.bias')
"""
from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from . import model as M
from .db import Database
from .errors import SqlnetError
from .queries import column, table

# PyTorch modules for sqlnet's activations (torch.nn class name, constructor arguments).
TORCH_ACTIVATIONS = {"identity": ("Identity", ()), "relu": ("ReLU", ()),
                     "leaky_relu": ("LeakyReLU", (0.01,)), "sigmoid": ("Sigmoid", ()),
                     "tanh": ("Tanh", ()), "softmax": ("Softmax", (1,))}


def key(layer: int, kind: str = "weight") -> str:
    """The state_dict key of sqlnet layer ``layer`` (1-based)."""
    return f"{2 * (layer - 1)}.{kind}"


def _np():
    import numpy as np  # optional at install time: only these functions need it
    return np


def read_parameters(db: Database, model: int = 0) -> list:
    """Every layer's (W, b) as numpy arrays, W of shape fan_in × fan_out, read column-wise."""
    np = _np()
    out = []
    for layer, fan_in, fan_out in _layers(db, model):
        W, b = np.zeros((fan_in, fan_out)), np.zeros(fan_out)
        w = db.sql("SELECT row, col, value FROM weights WHERE model = ? AND layer = ?",
                   [model, layer]).fetchnumpy()
        W[w["row"], w["col"]] = w["value"]
        c = db.sql("SELECT col, value FROM biases WHERE model = ? AND layer = ?",
                   [model, layer]).fetchnumpy()
        b[c["col"]] = c["value"]
        out.append((W, b))
    return out


def _layers(db: Database, model: int) -> list[tuple[int, int, int]]:
    M.load(db, model)  # a clear error when there is no model
    return db.sql("SELECT layer, fan_in, fan_out FROM layers WHERE model = ? ORDER BY layer",
                  [model]).fetchall()


def write_parameters(db: Database, params: list, model: int = 0) -> None:
    """Replace every layer's weights and biases by params, a list of (W fan_in × fan_out, b).

    Shapes are checked against the model first, so a mismatch changes nothing; the caller
    decides the transaction.
    """
    np = _np()
    layers = _layers(db, model)
    check_shapes(layers, [(np.shape(W), np.shape(b)) for W, b in params], "in × out")
    for (layer, fan_in, fan_out), (W, b) in zip(layers, params):
        W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise SqlnetError(f"layer {layer}'s weights or biases are not all finite")
        rows, cols = np.indices((fan_in, fan_out))
        _insert(db, "weights", {"model": np.full(W.size, model, dtype=np.int32),
                                "layer": np.full(W.size, layer, dtype=np.int32),
                                "row": rows.ravel().astype(np.int32),
                                "col": cols.ravel().astype(np.int32), "value": W.ravel()},
                model, layer)
        _insert(db, "biases", {"model": np.full(fan_out, model, dtype=np.int32),
                               "layer": np.full(fan_out, layer, dtype=np.int32),
                               "col": np.arange(fan_out, dtype=np.int32), "value": b}, model, layer)


def _insert(db: Database, name: str, columns: dict, model: int, layer: int) -> None:
    """DELETE a layer's rows of name, then INSERT the numpy columns through DuckDB's scan."""
    key = [exp.EQ(this=column(k), expression=exp.Placeholder(this=k)) for k in ("model", "layer")]
    db.run(exp.delete(table(name), where=exp.and_(*key)), model=model, layer=layer)
    with db.registered("sqlnet_interop_rows", columns) as rows:
        db.run(exp.insert(exp.select(*map(column, columns)).from_(table(rows)), table(name)))


def check_shapes(layers: list[tuple[int, int, int]], shapes: list, layout: str) -> None:
    """Refuse parameters whose count or shapes do not fit the model's layers."""
    if len(shapes) != len(layers):
        raise SqlnetError(f"the file has {len(shapes)} layer(s) but the model has {len(layers)}")
    for (layer, fan_in, fan_out), (w, b) in zip(layers, shapes):
        want = (fan_in, fan_out) if layout == "in × out" else (fan_out, fan_in)
        if tuple(w) != want or tuple(b) != (fan_out,):
            raise SqlnetError(f"layer {layer} of the model takes weights {want[0]}×{want[1]} "
                              f"({layout}) and {fan_out} biases; the file has "
                              f"{'×'.join(map(str, w))} and {'×'.join(map(str, b))}")


def state_dict(db: Database, model: int = 0) -> dict:
    """The model as a PyTorch-style state_dict of numpy arrays (weights out × in)."""
    out = {}
    for layer, (W, b) in enumerate(read_parameters(db, model), start=1):
        out[key(layer)] = W.T.copy()
        out[key(layer, "bias")] = b
    return out


def load_state_dict(db: Database, state: dict, model: int = 0) -> None:
    """Write a state_dict (weights out × in) into the model, in one transaction.

    Keys besides the Linear layers' (``meta.*`` of an .npz) are ignored; missing or extra
    layers and wrong shapes are refused before anything is written.
    """
    np = _np()
    layers = _layers(db, model)
    linear = {k for k in state if k.endswith((".weight", ".bias")) and not k.startswith("meta.")}
    expected = {key(l, kind) for l, _, _ in layers for kind in ("weight", "bias")}
    if linear != expected:
        missing, extra = sorted(expected - linear), sorted(linear - expected)
        raise SqlnetError("the file's layers do not fit the model's "
                          f"{len(layers)}: " + "; ".join(
                              p for p in (f"missing {', '.join(missing)}" if missing else "",
                                          f"unexpected {', '.join(extra)}" if extra else "") if p))
    arrays = {k: np.asarray(state[k], dtype=np.float64) for k in expected}
    check_shapes(layers, [(arrays[key(l)].shape, arrays[key(l, "bias")].shape)
                          for l, _, _ in layers], "out × in")
    with db.transaction():
        write_parameters(db, [(arrays[key(l)].T, arrays[key(l, "bias")]) for l, _, _ in layers],
                         model)


def export(db: Database, path: str, model: int = 0) -> str:
    """Write the model's weights to path: ``.npz`` (numpy) or ``.pt``/``.pth`` (PyTorch)."""
    kind = _kind(path, exporting=True)
    state = state_dict(db, model)
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise SqlnetError(f"cannot write {path}: directory {folder} does not exist")
    if kind == "npz":
        np = _np()
        net = M.load(db, model)
        meta = {"meta.activations": np.array(net.activations), "meta.loss": np.array(net.loss),
                "meta.features": np.array(M.feature_names(db, model), dtype=str),
                "meta.targets": np.array(M.target_names(db, model), dtype=str)}
        with open(path, "wb") as f:
            np.savez(f, **state, **meta)
    else:
        torch = _torch()
        torch.save({k: torch.from_numpy(v) for k, v in state.items()}, path)
    return kind


def import_(db: Database, path: str, model: int = 0) -> str:
    """Replace the model's weights and biases with those in path (.npz or .pt)."""
    kind = _kind(path)
    p = Path(path)
    if not p.is_file():
        raise SqlnetError(f"no such file: {path}")
    try:
        if kind == "npz":
            with _np().load(path, allow_pickle=False) as f:
                state = {k: f[k] for k in f.files}
        else:
            state = {k: v.detach().cpu().double().numpy()
                     for k, v in _torch().load(path, map_location="cpu", weights_only=True).items()}
    except SqlnetError:
        raise
    except Exception as e:  # numpy, zipfile and torch each raise their own kinds
        raise SqlnetError(f"cannot read {path} as {kind}: {_first_line(e)}") from None
    load_state_dict(db, state, model)
    return kind


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _kind(path: str, exporting: bool = False) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".pt", ".pth"):
        return "pt"
    if exporting:   # (sqlnet.scoring writes the .sql files)
        raise SqlnetError(f"{path}: name the file .npz (numpy), .pt (PyTorch) or .sql (scoring SQL)")
    raise SqlnetError(f"{path}: name the file .npz (numpy) or .pt (PyTorch)")


def _torch():
    try:
        import torch
    except ImportError:
        raise SqlnetError("PyTorch is not installed; `pip install torch`, or use .npz") from None
    return torch


def torch_module(db: Database, model: int = 0, output: bool = False):
    """A float64 ``torch.nn.Sequential`` holding the model's weights.

    Hidden activations become modules between the Linear layers; the output activation is
    appended only when ``output`` is true (a classifier's logits are what
    ``CrossEntropyLoss`` wants).
    """
    torch = _torch()
    net = M.load(db, model)
    modules = []
    for layer, act in enumerate(net.activations, start=1):
        modules.append(torch.nn.Linear(net.widths[layer - 1], net.widths[layer], dtype=torch.float64))
        if layer < net.depth or output:
            name, args = TORCH_ACTIVATIONS[act]
            modules.append(getattr(torch.nn, name)(*args))
    seq = torch.nn.Sequential(*modules)
    seq.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(db, model).items()})
    return seq
