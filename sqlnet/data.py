"""CSV, Parquet or a table in, (row, col, value) tables out.

:func:`load` stages the source, checks it against the model, and leaves the temporary
tables loaded_rows, loaded_inputs and loaded_targets (all in batch 0) for the caller.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from .db import Database
from .engines import errors as engine_errors
from .errors import SqlnetError
from .queries import DIALECT, column, query, table

INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
           "UINTEGER", "UBIGINT")
NUMERIC = (*INTEGER, "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN")


@dataclass
class Source:
    """Where data comes from: a file (CSV, or Parquet by its ending), a table, or a query
    (SQL in the engine's own dialect, its rows numbered in the order it returns them); wide
    (a column per feature) or long (a (row, col, value) cell per line: see sqlnet.cells).

    >>> str(Source(query="SELECT a.*, b.y FROM a JOIN b USING (id) ORDER BY id"))
    "query 'SELECT a.*, b.y FROM a JOIN b USING (id) ORDER BY id'"
    """

    path: str | None = None
    table: str | None = None
    long: bool = False
    query: str | None = None
    own: bool = False     # table is one sqlnet made (the model's or temporary), not the user's

    def __str__(self) -> str:
        if self.query is not None:   # on one line, as every message is
            return f"query {' '.join(self.query.split())!r}"
        return self.path or f"table {self.table}"


@dataclass
class Loaded:
    rows: int
    features: list[str]
    targets: list[str]


def stage(db: Database, source: Source) -> dict[str, str]:
    """Copy the source into the temporary table staging; return its columns and types."""
    numbered = "stage_table" if db.engine.rowid else "stage_table_numbered"
    if source.table is not None:
        if not source.own and source.table not in db.user_tables():
            raise SqlnetError(f"the database has no table {source.table!r}")
        db.run(query(numbered, source=table(source.table) if source.own else
                     db.user_table(source.table)))
    elif source.query is not None:
        try:
            with db.users_path():
                db.run(query(numbered, source=user_query(source.query, db.engine.dialect)))
        except engine_errors() as e:
            raise SqlnetError(f"--query failed: {str(e).strip().splitlines()[0]}") from None
    else:
        _check_file(source.path)
        parquet = source.path.lower().endswith((".parquet", ".pq"))
        header = None if parquet else _csv_header(source.path)
        try:
            db.engine.stage_file(source.path, parquet)
        except engine_errors() as e:
            kind = "Parquet" if parquet else "CSV"
            raise SqlnetError(f"cannot read {source.path} as {kind}: "
                              f"{str(e).strip().splitlines()[0]}") from None
        if header is not None and _columns(db) != header:
            raise SqlnetError(f"the rows of {source.path} do not all have the {len(header)} "
                              "columns of its header")
    types = dict(db.columns("staging"))
    if not db.scalar(query("row_count")):
        raise SqlnetError(f"{source} has no data rows")
    return types


def user_query(text: str, dialect: str) -> exp.Expression:
    """A user's query as a parenthesized subquery whose text reaches the engine as written
    (no rewrite of sqlnet's touches it: an opaque node). It must be one statement: its
    parentheses balanced and no semicolon outside strings and comments (a trailing one is
    dropped), so that it cannot end the subquery it is put in."""
    text = text.strip().rstrip(";").strip()
    try:
        tokens = sqlglot.tokenize(text, read=dialect)
    except sqlglot.errors.TokenError as e:
        raise SqlnetError(f"--query cannot be read: {str(e).splitlines()[0]}") from None
    depth = 0
    for t in tokens:
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(t.token_type, 0)
        if depth < 0 or t.token_type == TokenType.SEMICOLON:
            raise SqlnetError("--query takes one query (a SELECT), not several statements")
    if not tokens or depth:
        raise SqlnetError("--query takes one query (a SELECT)" if not tokens else
                          "--query has unbalanced parentheses")
    return exp.paren(exp.Var(this=text))


def _columns(db: Database) -> list[str]:
    return [name for name, _ in db.columns("staging")]


def _csv_header(path: str) -> list[str]:
    """The header line, read here because DuckDB's sniffer renames duplicates (a, a_1) and,
    given ragged rows, may take the widest row for the header."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader([f.readline()]), [])
    seen = {n for n in header if header.count(n) > 1}
    if seen:
        raise SqlnetError(f"{path} names column(s) {', '.join(map(repr, sorted(seen)))} "
                          "more than once")
    return header


def _check_file(path: str) -> None:
    p = Path(path)
    if not p.exists():
        raise SqlnetError(f"no such file: {path}")
    if p.is_dir():
        raise SqlnetError(f"{path} is a directory, not a data file")
    if p.stat().st_size == 0:
        raise SqlnetError(f"{path} is empty")


def load(db: Database, source: Source, features: list[str], targets: list[str] | None,
         model: int = 0, task: str = "regression", learn_classes: bool = False,
         staged: bool = False) -> Loaded:
    """Stage source (unless staged: it is staged already) and keep its features (and
    targets, if given) as long tables.

    task is the model's: classification targets are labels, made one-hot through the
    `classes` table (which learn_classes lets a first training run fill in).
    """
    if source.long:
        from .cells import load as load_cells   # cells builds on this module's stage
        return load_cells(db, source, features, targets, model, task, learn_classes, staged)
    types = dict(db.columns("staging")) if staged else stage(db, source)
    _check_columns(source, types, features, "feature")
    for name in features:
        _check_numeric(source, types, name, "feature")
    db.run(query("keep_rows"), model=model)
    _numbers(db, source, features)
    db.run(query("keep_inputs"), model=model)
    if targets:
        _check_columns(source, types, targets, "target")
        if task == "classification":
            _class_targets(db, source, targets[0], model, learn_classes)
        else:
            for name in targets:
                _check_numeric(source, types, name, "target")
            _numbers(db, source, targets)
            if task == "binary":
                _check_unit_range(db, source)
            db.run(query("keep_numeric_targets"), model=model)
    return Loaded(db.scalar(query("row_count")), features, targets or [])


def _check_columns(source: Source, types: dict[str, str], names: list[str], what: str) -> None:
    missing = [n for n in names if n not in types]
    if missing:
        have = ", ".join(types) if len(types) <= 12 else f"{len(types)} columns"
        raise SqlnetError(f"{source} has no {what} column {', '.join(map(repr, missing))} "
                          f"(it has {have})")


def _check_numeric(source: Source, types: dict[str, str], name: str, what: str) -> None:
    if not types[name].startswith(NUMERIC):
        raise SqlnetError(f"{what} column {name!r} of {source} is not numeric ({types[name]})")


def _numbers(db: Database, source: Source, names: list[str]) -> None:
    """staged_long: the named columns as (row, col, value), refusing empty, NaN and Inf cells."""
    nan = exp.cast(exp.Literal.string("NaN"), "DOUBLE")
    picks = [exp.alias_(exp.Coalesce(this=exp.cast(column(n), "DOUBLE"), expressions=[nan]),
                        str(i), quoted=True) for i, n in enumerate(names)]
    row = sqlglot.parse_one("rowid - (SELECT MIN(rowid) FROM staging)", dialect=DIALECT)
    select = exp.select(exp.alias_(row, "row"), *picks).from_("staging")
    db.run(query("staged_numbers", columns=exp.paren(select)))
    bad = db.rows(query("bad_values"))
    if bad:
        col, cells, first = bad[0]
        raise SqlnetError(f"column {names[col]!r} of {source} has {cells} empty, NaN or infinite "
                          f"cell(s), the first in data row {first + 1}")


def _class_targets(db: Database, source: Source, name: str, model: int, learn: bool) -> None:
    label = column(name, "s")
    n, first = db.rows(query("null_labels", label=label))[0]
    if n:
        raise SqlnetError(f"target column {name!r} of {source} has {n} empty cell(s), "
                          f"the first in data row {first + 1}")
    if learn and not db.scalar(query("stored_class_count"), model=model):
        db.run(query("store_classes", new_classes=exp.paren(query("new_classes", label=label))),
               model=model)
    unknown = [r[0] for r in db.rows(query("unknown_labels", label=label), model=model)]
    if unknown:
        raise SqlnetError(f"target column {name!r} of {source} has labels the model has no "
                          f"class for: {', '.join(map(repr, unknown))}")
    db.run(query("keep_class_targets",
                 class_targets=exp.paren(query("class_targets", label=label))), model=model)


def _check_unit_range(db: Database, source: Source) -> None:
    n, first = db.rows(query("out_of_unit_range"))[0]
    if n:
        raise SqlnetError(f"bce targets must lie in [0, 1]; {source} has {n} outside, "
                          f"the first in data row {first + 1}")
