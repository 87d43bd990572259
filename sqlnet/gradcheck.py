"""gradcheck: are the SQL gradients right? Compared with central finite differences.

Each finite difference is (L(p + h) − L(p − h)) / 2h, the two losses computed by SQL forward
passes over the given data as one batch (no dropout; the data loss without penalties). It
all runs in one transaction that is rolled back: the model is left exactly as it was.
"""
from __future__ import annotations

from sqlglot import exp

from .data import Source
from .db import Database
from .errors import SqlnetError
from .phases import backward, error, forward, with_ctes
from .predict import _prepare
from .queries import query, table
from .seeded import chain


def gradcheck(db: Database, source: Source, targets: list[str], h: float = 1e-5,
              max_params: int = 500) -> list[tuple]:
    """Rows (layer, checked, max_abs_error, max_rel_error), one per layer."""
    if not h > 0 or max_params < 1:
        raise SqlnetError("--eps must be positive and --max-params at least 1")
    db.engine.begin()
    try:
        net, _ = _prepare(db, source, with_targets=True, targets=targets)
        ctes = forward(net, "loaded_rows", "loaded_inputs") + error(net, "loaded_targets")
        grads = [query("layer_gradients", source=table(f"grad{layer}"), layer=exp.Literal.number(layer))
                 for layer in range(1, net.depth + 1)]
        body = grads[0]
        for g in grads[1:]:
            body = exp.union(body, g, distinct=False)
        db.run(query("gc_gradients", gradients=exp.paren(with_ctes(body, ctes + backward(net)))),
               batch=0)
        db.run(query("gc_pick", key=chain("p.layer * 1000003 + p.row", "p.col")),
               model=net.model, n=max_params)
        db.run(query("gc_losses"))
        record = query("gc_record", loss=exp.paren(with_ctes(exp.select("*").from_("loss"),
                                                              ctes[:-1])))
        for layer, row, col in db.sql("SELECT layer, row, col FROM gc_params").fetchall():
            nudge = query("gc_nudge_bias" if row < 0 else "gc_nudge_weight")
            where = {"model": net.model, "layer": layer, "row": row, "col": col, "h": h}
            for side in (1, -1):
                db.run(nudge, side=side, **where)
                db.run(record, side=side, batch=0, **where)
            db.run(nudge, side=0, **where)
        return db.rows(query("gc_report"), h=h)
    finally:
        db.engine.rollback()
