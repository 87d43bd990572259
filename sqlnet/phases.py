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

CTE = tuple[str, exp.Expression]


def activation(name: str) -> tuple[exp.Expression, exp.Expression]:
    """f and f' of an activation (sql/activations.sql), f over z.value and f' over a.value."""
    z, a = column("value", "z"), column("value", "a")
    return (substitute(expression(name, "f"), z=z, a=a),
            substitute(expression(name, "df"), z=z, a=a))


def forward(net: Network, rows: str, inputs: str) -> list[CTE]:
    """batch_rows, a0, then z_l and a_l for every layer: the forward phase."""
    ctes = [("batch_rows", query("rows", rows=table(rows))),
            ("a0", query("inputs", inputs=table(inputs), rows=table("batch_rows")))]
    for layer, act in enumerate(net.activations, start=1):
        ctes.append((f"z{layer}", query("linear", acts=table(f"a{layer - 1}"), layer=number(layer))))
        ctes.append((f"a{layer}", _activate(net, layer, act)))
    return ctes


def _activate(net: Network, layer: int, act: str) -> exp.Expression:
    z = table(f"z{layer}")
    if layer < net.depth:
        return query("activate", f=activation(act)[0], z=z, rows=table("batch_rows"))
    if act == "softmax":
        return query("softmax_output", z=z)
    return query("output", f=activation(act)[0], z=z)


def error(net: Network, targets: str) -> list[CTE]:
    """y, the batch loss and the output delta Δᴸ: the error phase."""
    L = net.depth
    io = {"out": table(f"a{L}"), "z": table(f"z{L}"), "y": table("y"), "rows": table("batch_rows")}
    df = activation(net.activations[-1])[1]
    return [("y", query("targets", targets=table(targets))),
            ("loss", _fill(f"loss_{net.loss}", io)),
            (f"delta{L}", _fill(f"delta_{net.loss}", {**io, "df": df}))]


def backward(net: Network) -> list[CTE]:
    """The hidden deltas from the top down, then every layer's gradient."""
    ctes = []
    for layer in range(net.depth - 1, 0, -1):
        ctes.append((f"delta{layer}", query(
            "hidden_delta", delta=table(f"delta{layer + 1}"), layer=number(layer + 1),
            acts=table(f"a{layer}"), df=activation(net.activations[layer - 1])[1])))
    for layer in range(1, net.depth + 1):
        ctes.append((f"grad{layer}", query(
            "gradient", acts=table(f"a{layer - 1}"), delta=table(f"delta{layer}"))))
    return ctes


def _fill(name: str, available: dict[str, exp.Expression]) -> exp.Expression:
    tree = query(name)
    wanted = {p.name for p in tree.find_all(exp.Placeholder)} & set(available)
    return exp.replace_placeholders(tree, **{k: available[k] for k in wanted})


def with_ctes(body: exp.Query, ctes: list[CTE]) -> exp.Query:
    """body, preceded by WITH name AS MATERIALIZED (...) for every CTE."""
    for name, tree in ctes:
        body = body.with_(name, as_=tree, materialized=True, copy=False)
    return body


def tape(net: Network) -> exp.Query:
    """The union of every intermediate, labelled by kind and layer."""
    parts = [query("tape_loss", source=table("loss"), layer=number(net.depth))]
    for layer in range(1, net.depth + 1):
        for kind, name in (("z", "z"), ("activation", "a"), ("delta", "delta"), ("gradient", "grad")):
            parts.append(query("tape_rows", source=table(f"{name}{layer}"),
                               kind=string(kind), layer=number(layer)))
    body = parts[0]
    for part in parts[1:]:
        body = exp.union(body, part, distinct=False, copy=False)
    return body


def step(net: Network) -> exp.Expression:
    """One training step's forward, error and backward phases as one statement."""
    ctes = forward(net, "epoch_rows", "epoch_inputs") + error(net, "epoch_targets") + backward(net)
    body = with_ctes(exp.select("*").from_(exp.paren(tape(net)).as_("t")), ctes)
    create = query("step", tape=table("placeholder"))
    create.set("expression", body)
    return create
