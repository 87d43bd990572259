"""`sqlnet phases`: the statements a training step runs for a model, as text to read.

The statements are the very syntax trees that :class:`sqlnet.train.Statements` builds for
the training loop, rendered for an engine as :meth:`sqlnet.db.Database.run` renders them:
the engine's rewrites (sqlnet/engines), then sqlglot's transpilation.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from . import model as M
from .engines import transpile
from .queries import DIALECT, render, statements

DIALECTS = ("duckdb", "postgres", "spark")
# What each part of a run's statements does, in the order the loop runs them.
ROLES = {"epoch": "once per epoch: the samples' order and batches",
         "batches": "once per epoch: the loop's bound",
         "step": "every step: forward, error, backward and update phases as one statement "
                 "(the tape: the loss and the update)",
         "step_full": "instead of step, for the run's last step (and with validation, every "
                      "epoch's last): the same step, its tape holding every intermediate too, "
                      "for last_step",
         "check": "every step: refuse a non-finite loss, gradient or new weight",
         "update": "every step: the new weights, biases and optimizer state copied in",
         "update_lean": "after a lean step of a wide sparse model: layer 1's new weights "
                        "copied in by rowid, then the others",
         "log": "every step: the training_log row, written only when the step's loss, "
                "gradients and new weights are all finite (else the step is refused)"}


@dataclass
class Phase:
    part: str          # the Statements attribute: epoch, step, update, ...
    name: str          # the sql/ statement it was made from, where one matches
    role: str
    tree: exp.Expression

    def sql(self, dialect: str = DIALECT, pretty: bool = False) -> str:
        """The statement(s) as the engine of that dialect runs them."""
        if dialect == DIALECT and not pretty:
            return render(self.tree, dialect)
        return ";\n".join(transpile(self.tree, dialect, pretty))


def phases(net: M.Network) -> list[Phase]:
    """The statements of a training run for net, in the order they run."""
    from .train import Statements
    out, seen = [], []
    st, parts = Statements(net), {}
    steps = {"step": st.step, "step_full": st.step_full}  # built when first asked for
    for part, value in vars(st).items():
        if not part.startswith("_") and part not in steps:
            parts.update({part: value, **(steps if part == "batches" else {})})
    for part, value in parts.items():
        if any(value is v for v in seen):   # (update_lean, where it is update itself)
            continue
        seen.append(value)
        trees = value if isinstance(value, list) else [value]
        for i, tree in enumerate(trees):
            if isinstance(tree, exp.Expression):
                out.append(Phase(part, _name(tree) or (part if len(trees) == 1 else f"{part}[{i}]"),
                                 ROLES.get(part, part), tree))
    return out


def _name(tree: exp.Expression) -> str | None:
    """The sql/ statement a tree is, when it is one unchanged (or only filled in)."""
    text = render(tree)
    kind = type(tree)
    for name, stmt in statements().items():
        if type(stmt) is kind and render(stmt) == text:
            return name
    head = tree.find(exp.Table)  # filled in: the statement named after the table it makes
    if head is not None and type(statements().get(head.name)) is kind:
        return head.name
    return None


def listing(net: M.Network, dialect: str = DIALECT, pretty: bool = False) -> str:
    """Every statement as text, each headed by a comment on what it does."""
    lines = [f"-- The statements of a training run for model {net.model}: layers "
             f"{','.join(map(str, net.widths))}, {' → '.join(net.activations)}, loss {net.loss}.",
             "-- $name is a parameter bound at run time; each step (from `step` to `log_step`)",
             "-- is one transaction."]
    if dialect != DIALECT:
        lines.append(f"-- As sqlnet runs them on {dialect}: written in DuckDB's dialect, rewritten "
                     "where the engines differ (sqlnet/engines), transpiled by sqlglot.")
    if dialect == "spark":
        lines.append("-- Spark computes each common table expression of a statement on its own, "
                     "and each UPDATE as the SELECT of the table's new rows, shown here.")
    for i, p in enumerate(phases(net), start=1):
        lines += ["", f"-- {i}. {p.name} ({p.role})", p.sql(dialect, pretty) + ";"]
    return "\n".join(lines)
