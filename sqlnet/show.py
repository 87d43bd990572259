"""Query results for people and for programs: aligned tables, CSV, JSON, Markdown, sparklines.

>>> sparkline([3, 2.5, 2, 1, 0.5])
'█▇▅▂▁'
>>> print(render_rows(["a", "b"], [(1, 0.5), (2, None)], "markdown"))
| a | b |
|---:|---:|
| 1 | 0.5 |
| 2 | NULL |
"""
from __future__ import annotations

import csv
import decimal
import io
import json
import math
import sys
from typing import TextIO

FORMATS = ("table", "csv", "json", "markdown")
BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 60) -> str:
    """One character per value (averaged into ``width`` buckets when there are more)."""
    values = [v for v in values if v is not None]
    if len(values) > width:
        step = len(values) / width
        values = [_mean(values[int(i * step):int((i + 1) * step)]) for i in range(width)]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * len(values)
    lo, hi = min(finite), max(finite)
    if hi == lo:
        return BARS[3] * len(values)
    return "".join(BARS[round((v - lo) / (hi - lo) * (len(BARS) - 1))] if math.isfinite(v) else " "
                   for v in values)


def _mean(vs: list[float]) -> float:
    return sum(vs) / len(vs)


def rows_of(cursor) -> tuple[list[str], list[tuple]]:
    """A DuckDB result's column names and rows."""
    return [d[0] for d in cursor.description], cursor.fetchall()


def emit(cursor, fmt: str = "table", out: TextIO | None = None) -> None:
    """Print a query result in one of FORMATS."""
    names, rows = rows_of(cursor)
    print(render_rows(names, rows, fmt), file=out or sys.stdout)


def render_rows(names: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "table":
        from .cli import print_table  # the CLI's own table, unchanged
        buf = io.StringIO()
        print_table(_Result(names, rows), out=buf)
        return buf.getvalue().rstrip("\n")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        w.writerows(["" if v is None else v for v in r] for r in rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps(records(names, rows), indent=1, default=json_value)
    if fmt == "markdown":
        return _markdown(names, rows)
    raise ValueError(f"unknown format {fmt!r}")


def json_value(v):
    """What JSON cannot hold itself: DECIMAL as a number, dates and the rest as text."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    return str(v)


def records(names: list[str], rows: list[tuple]) -> list[dict]:
    """Rows as dicts; non-finite floats become null, as JSON has no NaN."""
    return [{n: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for n, v in zip(names, r)} for r in rows]


def _markdown(names: list[str], rows: list[tuple]) -> str:
    numeric = [all(isinstance(r[i], (int, float, decimal.Decimal)) or r[i] is None for r in rows)
               and bool(rows)
               for i in range(len(names))]
    lines = ["| " + " | ".join(names) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for r in rows:
        cells = ["NULL" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
                 for v in r]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


class _Result:
    """Names and rows that look like a cursor to print_table."""

    def __init__(self, names: list[str], rows: list[tuple]):
        self.description = [(n,) for n in names]
        self._rows = rows

    def fetchall(self) -> list[tuple]:
        return self._rows
