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
ROLES = {"block": "on DuckDB, before a chunk whose epochs the tables do not hold yet: the "
                  "samples' order and batches of every epoch the chunk reaches, at once",
         "batches": "the loop's bound: an epoch's batches",
         "chunk": "on DuckDB: many optimizer steps in ONE statement, a recursive CTE whose "
                  "iteration is a step's forward, error, backward and update phases (and, "
                  "with validation, an epoch's validation and early stopping's test)",
         "chunk_update": "after a chunk: the new weights, biases and optimizer state copied in",
         "log_chunk": "after a chunk: its steps' training_log rows, written only when every "
                      "loss and new weight is finite (else its steps are taken one by one)",
         "chunk_stopped": "after a chunk that validated: did early stopping stop it (then it "
                          "is taken again up to the stopping step, which is taken alone)",
         "chunk_best": "after a chunk that validated: the run's best epoch and weights",
         "epoch": "once per epoch where steps run as statements of their own (every step on "
                  "PostgreSQL and Spark; on DuckDB, the run's last step and a diverging "
                  "chunk's steps): the samples' order and batches",
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
                "gradients and new weights are all finite (else the step is refused)",
         "validate": "after an epoch's last step: the validation scores on its training_log "
                     "row, then early stopping's statements"}


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


def phases(net: M.Network, dialect: str = DIALECT, validate: bool = False,
           rows: int | None = None) -> list[Phase]:
    """The statements of a training run for net on dialect's engine, in the order they run:
    on DuckDB the chunks of many steps first, then what a step of its own runs (every
    step, elsewhere). validate: the model has validation data; rows: its training rows."""
    from .train import Chunks, Statements, chunk_applies
    st = Statements(net, validate=validate)
    parts = []
    if chunk_applies(dialect):
        size = min(net.batch_size or rows or 1, rows or net.batch_size or 1)
        parts += [("block", st.block), ("batches", st.batches),
                  ("chunk", Chunks.statement_for(net, size, validate)),
                  ("chunk_update", st.update), ("log_chunk", st.chunk_log),
                  ("chunk_stopped", st.chunk_stopped), ("chunk_best", st.chunk_best)]
    parts += [("epoch", st.epoch), ("batches", st.batches), ("step", st.step),
              ("step_full", st.step_full), ("check", st.check), ("update", st.update),
              ("update_lean", None if st.update_lean is st.update else st.update_lean),
              ("log", st.log), ("validate", st.validate)]
    out, seen = [], set()
    for part, value in parts:
        trees = [t for t in (value if isinstance(value, list) else [value]) if t is not None]
        if not trees or (part == "batches" and part in seen):
            continue
        seen.add(part)
        for i, tree in enumerate(trees):
            out.append(Phase(part, _name(tree) or (part if len(trees) == 1 else f"{part}[{i}]"),
                             ROLES[part], tree))
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


def listing(net: M.Network, dialect: str = DIALECT, pretty: bool = False,
            validate: bool = False, rows: int | None = None) -> str:
    """Every statement as text, each headed by a comment on what it does."""
    lines = [f"-- The statements of a training run for model {net.model}: layers "
             f"{','.join(map(str, net.widths))}, {' → '.join(net.activations)}, loss {net.loss}.",
             "-- $name is a parameter bound at run time; each chunk (from `chunk` to its",
             "-- best weights) and each step (from `step` to `log_step`) is one transaction."]
    if dialect != DIALECT:
        lines.append(f"-- As sqlnet runs them on {dialect}: written in DuckDB's dialect, rewritten "
                     "where the engines differ (sqlnet/engines), transpiled by sqlglot.")
    if dialect == "spark":
        lines.append("-- Spark computes each common table expression of a statement on its own, "
                     "and each UPDATE as the SELECT of the table's new rows, shown here.")
    for i, p in enumerate(phases(net, dialect, validate, rows), start=1):
        lines += ["", f"-- {i}. {p.name} ({p.role})", p.sql(dialect, pretty) + ";"]
    return "\n".join(lines)
