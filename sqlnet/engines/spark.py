"""Apache Spark SQL (4.x) through PySpark, with sqlnet's tables as Parquet files.

Spark's plain Parquet tables have no UPDATE, DELETE or transactions, and its lazy views
recompute what they read from a table after that table changes. So here every table is a
list of immutable Parquet directories (segments) under the warehouse directory, and a
temporary view of the same name reads them:
- a statement that writes a table computes its new rows with Spark SQL and writes them as a
  new segment, materialized before anything points at it; INSERT adds a segment, UPDATE
  and DELETE (rewritten as a SELECT of the table's new rows) and CREATE TABLE AS replace
  them all;
- the warehouse's catalog file (sqlnet_catalog.json) names each table's segments. COMMIT
  writes it beside the old one and renames it over it, so a transaction lands whole or not
  at all; ROLLBACK points the views back at the committed segments. Outside a transaction
  each statement commits by itself.
The warehouse must be a directory the driver can write (local, or a shared file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from sqlglot import exp

from ..errors import SqlnetError
from . import base, rewrites
from .base import Engine, Result

CATALOG = "sqlnet_catalog.json"
TYPES = {"int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "string": "VARCHAR",
         "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "float": "FLOAT",
         "smallint": "SMALLINT", "tinyint": "TINYINT", "void": "NULL"}


def session(master: str):
    """The process's SparkSession (started once: about 11 s), quiet and sized for one machine."""
    import logging
    import warnings
    if master.startswith("local"):  # starts where the host name does not resolve
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)  # PySpark's echo
    from pyspark.sql import SparkSession
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    log4j = Path(__file__).with_name("log4j2.properties")
    spark = (SparkSession.builder.master(master).appName("sqlnet")
             .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.adaptive.enabled", "true")
             .config("spark.driver.memory", os.environ.get("SQLNET_SPARK_MEMORY", "2g"))
             .config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    return spark


class Spark(Engine):
    kind = dialect = "spark"
    cacheable = False

    def __init__(self, master: str, warehouse: str | None = None):
        try:
            import pyspark  # noqa: F401
            from py4j.protocol import Py4JError
            from pyspark.errors import PySparkException
        except ImportError:
            raise SqlnetError("spark: databases need PySpark: pip install 'sqlnet[spark]'") from None
        self.errors = (PySparkException, Py4JError)
        if not master:
            raise SqlnetError("spark: needs a master, for example spark:local[2]")
        self.warehouse = self.root = Path(warehouse or "spark-warehouse").resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SqlnetError(f"cannot use {self.root} as the Spark warehouse: {e}") from None
        try:
            self.spark = session(master).newSession()
        except Exception as e:  # the JVM did not start (no Java, bad master)
            raise SqlnetError(f"cannot start Spark ({master}): {base_line(e)}") from None
        self.tmp = self.warehouse / "_tmp" / uuid.uuid4().hex
        self.user_schema = self.spark.catalog.currentDatabase()
        self.committed = self.live = {"tables": {}, "views": {}}  # no model's namespace yet
        self.temp: dict[str, dict] = {}                       # temporary tables
        self.in_transaction = False

    # --- namespaces: a model's tables under <warehouse>/<name>.db ------------------------
    def _namespace(self, schema: str) -> Path:
        """Where a namespace's tables and catalog file are; the user's (a warehouse of
        schema version 2) is the warehouse itself."""
        return self.warehouse if schema == self.user_schema else self.warehouse / f"{schema}.db"

    def use_schema(self, schema: str, *_more: str) -> None:
        """The namespace's tables become this session's views (Spark finds the user's
        catalog tables after them, by itself)."""
        for name in list(self.live["tables"]) + list(self.live["views"]):
            self.spark.catalog.dropTempView(name)
        self.root = self._namespace(schema)
        self.committed = self._read_catalog()
        self.live = json.loads(json.dumps(self.committed))   # what this session sees now
        if self.root.is_dir():
            self._collect_garbage()
        for name in self.live["tables"]:
            self._register(name)
        self._register_views()

    def create_schema(self, schema: str) -> None:
        self._namespace(schema).mkdir(exist_ok=True)

    def drop_schema(self, schema: str) -> None:
        for name in list(self.live["tables"]) + list(self.live["views"]):
            self.spark.catalog.dropTempView(name)
        self.committed = self.live = {"tables": {}, "views": {}}
        (self._namespace(schema) / CATALOG).unlink(missing_ok=True)
        shutil.rmtree(self._namespace(schema), ignore_errors=True)

    def move_namespace(self, old: str, new: str) -> None:
        """A warehouse of schema version 2 becomes namespace new: its catalog file is
        written there, naming the same segments (../table/...), then the old one goes."""
        catalog = json.loads((self._namespace(old) / CATALOG).read_text())
        for entry in catalog["tables"].values():
            entry["segments"] = [f"../{s}" for s in entry["segments"]]
        self.create_schema(new)
        self.root, self.live = self._namespace(new), catalog
        self._write_catalog()
        (self._namespace(old) / CATALOG).unlink()
        self.use_schema(new)

    def schemas_holding(self, table: str) -> set[str]:
        found = {d.name[:-3] for d in self.warehouse.glob("*.db")
                 if table in _read_tables(d / CATALOG)}
        return found | ({self.user_schema} if table in _read_tables(self.warehouse / CATALOG) else set())

    # --- the catalog file -------------------------------------------------------------
    def _read_catalog(self) -> dict:
        path = self.root / CATALOG
        if not path.exists():
            return {"tables": {}, "views": {}}
        return json.loads(path.read_text())

    def _write_catalog(self) -> None:
        path = self.root / CATALOG
        new = path.with_suffix(".json.new")
        new.write_text(json.dumps(self.live))
        with open(new, "rb") as f:
            os.fsync(f.fileno())
        os.replace(new, path)
        self.committed = json.loads(json.dumps(self.live))

    def _collect_garbage(self) -> None:
        """Segments no committed table names (left by a crash or a rollback)."""
        used = {s for t in self.committed["tables"].values() for s in t["segments"]}
        for table_dir in self.root.iterdir():
            if table_dir.is_dir() and not table_dir.name.startswith("_") and \
                    table_dir.name in self.committed["tables"]:
                for seg in table_dir.iterdir():
                    if f"{table_dir.name}/{seg.name}" not in used:
                        shutil.rmtree(seg, ignore_errors=True)

    # --- tables as views over segments -----------------------------------------------
    def _entry(self, name: str) -> dict | None:
        return self.temp.get(name) or self.live["tables"].get(name)

    def _register(self, name: str) -> None:
        entry = self._entry(name)
        ddl = _ddl(entry["schema"]) if entry.get("schema") else None
        if entry.get("df") is not None:
            df = entry["df"]
        elif entry["segments"]:
            base_dir = self.tmp if name in self.temp else self.root
            reader = self.spark.read.schema(ddl) if ddl else self.spark.read
            df = None                # segment by segment: the rows stay in the order written
            for segment in entry["segments"]:
                part = reader.parquet(str(base_dir / segment))
                df = part if df is None else df.unionByName(part)
        else:
            df = self.spark.createDataFrame([], ddl or entry["ddl"])
        df.createOrReplaceTempView(name)

    def _register_views(self, changed: str | None = None) -> None:
        """(Re)make the views (that read table changed): a view holds the plan it was made with."""
        import sqlglot
        for name, text in self.live["views"].items():
            if changed is None or changed in {t.name for t in
                                              sqlglot.parse_one(text, dialect="spark").find_all(exp.Table)}:
                self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {_q(name)} AS {text}")

    def _write(self, name: str, df, append: bool, temp: bool = False) -> None:
        """df's rows as a new segment of table name (or as all of it)."""
        entry = self._entry(name)
        if entry is None:
            entry = {"segments": [], "schema": None}
            (self.temp if temp else self.live["tables"])[name] = entry
        if entry.get("schema"):
            df = _conform(df, entry["schema"])
        else:
            entry["ddl"] = df.schema.simpleString()
        if name in self.temp and not append:  # computed now, kept in Spark's block store
            entry["df"], entry["segments"] = df.localCheckpoint(eager=True), []
            self._changed(name)
            return
        if entry.get("df") is not None:       # a temporary table grows: keep it in memory
            entry["df"] = entry["df"].unionByName(df).localCheckpoint(eager=True)
            self._changed(name)
            return
        if append and len(entry["segments"]) >= 16:   # compact: one segment again
            df = self.spark.table(name).unionByName(df)
            append = False
        segment = f"{name}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # in write order
        base_dir = self.tmp if name in self.temp else self.root
        df.write.parquet(str(base_dir / segment))
        entry["segments"] = (entry["segments"] if append else []) + [segment]
        self._changed(name)

    def _empty(self, name: str) -> bool:
        """A table of ours with no rows written yet (nothing to delete or update)."""
        entry = self._entry(name)
        return entry is not None and not entry["segments"] and entry.get("df") is None

    def _changed(self, name: str) -> None:
        self._register(name)
        self._register_views(name)
        if not self.in_transaction and name not in self.temp:
            self._write_catalog()

    # --- statements ---------------------------------------------------------------------
    def rewrite(self, tree: exp.Expression) -> list[exp.Expression]:
        tree = rewrites.unpivot(tree, _stack)
        tree = rewrites.star_replace(tree, self.columns)
        tree = rewrites.row_numbers(rewrites.doubles(rewrites.finite(rewrites.aliased(tree))))
        for rewrite in (_range, _ordered, _zipped):
            tree = tree.transform(rewrite, copy=False)
        for cte in tree.find_all(exp.CTE):
            cte.set("materialized", None)
        return [tree]

    def statements(self, tree: exp.Expression) -> list[tuple]:
        return [(t, None) for t in self.rewrite(rewrites.positions_named(tree))]

    def call(self, tree, _keys, params):
        if isinstance(tree, str):
            return self.run_text(tree, params)
        if isinstance(tree, exp.Create):
            return self._create(tree, params)
        if isinstance(tree, exp.Insert):
            name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
            cols = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else None
            self._write(name, self._insert_rows(name, tree.expression, cols, params), append=True)
            return Result([])
        if isinstance(tree, exp.Update):
            return self._update(tree, params)
        if isinstance(tree, exp.Delete):
            return self._delete(tree, params)
        if isinstance(tree, exp.Drop):
            for t in tree.expressions or tree.args.get("tables") or []:
                self.temp.pop(t.name, None) or self.live["tables"].pop(t.name, None)
                self.spark.catalog.dropTempView(t.name)
            if not self.in_transaction:
                self._write_catalog()
            return Result([])
        if isinstance(tree, exp.Alter):
            raise SqlnetError("spark: tables made by an older sqlnet cannot be upgraded here")
        return self._query(tree, params)

    def as_select(self, tree: exp.Expression) -> exp.Expression:
        """What a statement computes, as Spark runs it: an UPDATE or DELETE as the SELECT of
        the table's new rows (for reading; the rows of a subquery-free UPDATE only)."""
        if isinstance(tree, exp.Update) and not (tree.args.get("where") and tree.args["where"].find(
                exp.Subquery, exp.Exists, exp.In)) and not isinstance(self.columns, type(None)):
            try:
                return _update_by_join(tree, self.columns(tree.this.name))
            except ValueError:
                return tree
        return tree

    def _df(self, tree: exp.Expression, params):
        """The rows of a query. Its common table expressions are computed one by one and
        kept (Spark would inline each where it is used, and plan a step for many seconds)."""
        if isinstance(tree, exp.Query) and (tree.args.get("with_") or tree.args.get("with")):
            tree = self._ctes(tree.copy(), params)
        sql, keys = self.render(tree)
        args = [base.by_name(params)[k] for k in keys]
        return self.spark.sql(sql, args=args) if args else self.spark.sql(sql)

    def _ctes(self, tree: exp.Query, params) -> exp.Query:
        """Those CTEs that more than one part reads are computed and kept, one by one; the
        others stay CTEs, which Spark inlines where they are read."""
        key = "with_" if "with_" in tree.args else "with"
        ctes = tree.args[key].expressions
        reads = {c.alias_or_name: 0 for c in ctes}
        for part in [c.this for c in ctes] + [tree]:
            for t in part.find_all(exp.Table):
                if t.name in reads and not t.args.get("db"):
                    reads[t.name] += 1
        renamed: dict[str, str] = {}
        inline: list[exp.CTE] = []
        for cte in ctes:
            name = cte.alias_or_name
            body = _rename(cte.this.copy(), renamed)
            if reads[name] <= 1:
                inline.append(exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(name))))
                continue
            view = f"sqlnet_cte_{name}"
            sql, keys = self.render(_with(body, inline))
            args = [base.by_name(params)[k] for k in keys]
            df = self.spark.sql(sql, args=args) if args else self.spark.sql(sql)
            df.localCheckpoint(eager=True).createOrReplaceTempView(view)
            renamed[name] = view
        tree.set(key, None)
        return _with(_rename(tree, renamed), inline)

    def _query(self, tree: exp.Expression, params) -> Result:
        df = self._df(tree, params)
        return Result([tuple(r) for r in df.collect()], df.columns)

    def run_text(self, sql: str, params) -> Result:
        df = self.spark.sql(sql, args=list(params)) if params else self.spark.sql(sql)
        return Result([tuple(r) for r in df.collect()], df.columns or None)

    def _create(self, tree: exp.Create, params) -> Result:
        kind = (tree.args.get("kind") or "").upper()
        temp = any(isinstance(p, exp.TemporaryProperty)
                   for p in (tree.args.get("properties") or exp.Properties()).expressions)
        if kind == "VIEW":
            self.live["views"][tree.this.name] = tree.expression.sql("spark", comments=False)
            self._register_views()
            if not self.in_transaction:
                self._write_catalog()
            return Result([])
        if kind == "TABLE" and isinstance(tree.this, exp.Table) and tree.this.args.get("db"):
            return self._create_users(tree, params)
        if isinstance(tree.this, exp.Schema):      # a table of declared columns, empty
            name = tree.this.this.name
            if self._entry(name) is not None and not tree.args.get("replace"):
                return Result([])
            schema = [(c.name, c.args["kind"].sql("spark"), _default(c))
                      for c in tree.this.expressions]
            (self.temp if temp else self.live["tables"])[name] = {"segments": [], "schema": schema}
            self._changed(name)
            return Result([])
        name = tree.this.name
        if self._entry(name) is not None:
            (self.temp if name in self.temp else self.live["tables"])[name]["schema"] = None
        self._write(name, self._df(tree.expression, params), append=False, temp=temp)
        return Result([])

    def _create_users(self, tree: exp.Create, params) -> Result:
        """CREATE TABLE db.t AS q, for a table of the user's (``predict --into``): a table of
        Spark's own catalog, written at once (Spark's catalog has no transactions)."""
        name = f"{_q(tree.this.args['db'].name)}.{_q(tree.this.name)}"
        mode = "overwrite" if tree.args.get("replace") else "errorifexists"
        self._df(tree.expression, params).write.mode(mode).format("parquet").saveAsTable(name)
        return Result([])

    def _insert_rows(self, name: str, source: exp.Expression, cols, params):
        df = self._df(source if isinstance(source, exp.Query) else exp.select("*").from_(
            exp.paren(source).as_("v")), params)
        entry = self._entry(name)
        if entry is None:
            raise SqlnetError(f"spark: no table {name}")
        names = cols or ([c for c, *_ in entry["schema"]] if entry.get("schema") else df.columns)
        return df.toDF(*names)

    def _update(self, tree: exp.Update, params) -> Result:
        """UPDATE t AS a SET c = e [FROM s] WHERE p: t's rows numbered once (materialized),
        the numbers of the rows p matches with their new values, and t's new rows."""
        from pyspark.sql import functions as F
        name, alias = tree.this.name, tree.this.alias_or_name
        if self._empty(name):
            return Result([])
        where = tree.args.get("where")
        if not (where and where.find(exp.Subquery, exp.Exists, exp.In)):
            self._write(name, self._df(_update_by_join(tree, self.columns(name)), params), append=False)
            return Result([])
        numbered = self.spark.table(name).withColumn("sqlnet_rid", F.monotonically_increasing_id())
        self._write("sqlnet_rid", numbered, append=False, temp=True)
        source = exp.Table(this=exp.to_identifier("sqlnet_rid"),
                           alias=exp.TableAlias(this=exp.to_identifier(alias)))
        sets = {e.this.name: e.expression for e in tree.expressions}
        hits = exp.select(exp.column("sqlnet_rid", alias), *[
            exp.alias_(e.copy(), f"sqlnet_set_{c}") for c, e in sets.items()]).from_(source)
        if tree.args.get("from_") or tree.args.get("from"):
            hits.append("joins", exp.Join(this=(tree.args.get("from_") or tree.args["from"]).this.copy()))
        if tree.args.get("where"):
            hits = hits.where(tree.args["where"].this.copy())
        columns = [c for c, _ in self.columns(name)]
        rows = exp.select(*[
            exp.alias_(exp.Case(ifs=[exp.If(this=exp.column("sqlnet_rid", "h").is_(exp.null()).not_(),
                                            true=exp.column(f"sqlnet_set_{c}", "h"))],
                                default=exp.column(c, "o", quoted=True)), c, quoted=True)
            if c in sets else exp.column(c, "o", quoted=True) for c in columns
        ]).from_(exp.Table(this=exp.to_identifier("sqlnet_rid"), alias=exp.TableAlias(
            this=exp.to_identifier("o")))).join(hits.subquery("h"), on="o.sqlnet_rid = h.sqlnet_rid",
                                                 join_type="LEFT")
        self._write(name, self._df(rows, params), append=False)
        return Result([])

    def _delete(self, tree: exp.Delete, params) -> Result:
        name = tree.this.name
        if self._empty(name):
            return Result([])
        keep = exp.select("*").from_(tree.this.copy())
        if tree.args.get("where"):
            keep = keep.where(exp.not_(exp.Coalesce(this=tree.args["where"].this.copy(),
                                                    expressions=[exp.false()])))
        else:
            keep = keep.where(exp.false())
        self._write(name, self._df(keep, params), append=False)
        return Result([])

    def executemany(self, tree: exp.Expression, rows: list[list]) -> None:
        name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
        schema = self.spark.table(_q(name)).schema
        kinds = [{"double": float, "float": float, "int": int, "bigint": int, "smallint": int,
                  "string": str}.get(f.dataType.simpleString(), lambda v: v) for f in schema.fields]
        rows = [tuple(None if v is None else k(v) for k, v in zip(kinds, r)) for r in rows]
        self._write(name, self.spark.createDataFrame(rows, schema).coalesce(1), append=True)

    # --- transactions -----------------------------------------------------------------
    def begin(self) -> None:
        self.in_transaction = True

    def commit(self) -> None:
        self.in_transaction = False
        self._write_catalog()

    def rollback(self) -> None:
        self.in_transaction = False
        changed = set(self.live["tables"]) | set(self.committed["tables"])
        self.live = json.loads(json.dumps(self.committed))
        for name in changed:
            if name in self.live["tables"]:
                self._register(name)
            else:
                self.spark.catalog.dropTempView(name)
        self._register_views()
        self._collect_garbage()

    # --- the catalog ------------------------------------------------------------------
    def tables(self, schema: str) -> set[str]:
        if self._namespace(schema) == self.root:
            ours = set(self.live["tables"]) | set(self.live["views"])
        else:
            ours = _read_tables(self._namespace(schema) / CATALOG)
        if schema != self.user_schema:
            return ours
        return ours | {t.name for t in self.spark.catalog.listTables(schema) if not t.isTemporary}

    def columns(self, table: str) -> list[tuple[str, str]]:
        return [(f.name, _duck_type(f.dataType.simpleString()))
                for f in self.spark.table(_q(table)).schema.fields if f.name != "sqlnet_row"]

    def stage_file(self, path: str, parquet: bool) -> None:
        """The file read by DuckDB's reader (types as DuckDB sniffs them), its rows numbered,
        written as the staging table's Parquet segment."""
        import duckdb
        file = exp.Literal.string(path).sql("duckdb")
        reader = f"read_parquet({file})" if parquet else f"read_csv({file}, header = true)"
        segment = f"staging/{uuid.uuid4().hex}"
        out = self.tmp / segment
        out.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect() as local:
            local.execute(f"CREATE TABLE f AS SELECT * FROM {reader}")
            local.execute("COPY (SELECT *, rowid AS sqlnet_row FROM f) TO "
                          f"{exp.Literal.string(str(out) + '.parquet').sql('duckdb')} (FORMAT parquet)")
        out.mkdir()
        os.replace(str(out) + ".parquet", out / "part-0.parquet")
        self.temp["staging"] = {"segments": [segment], "schema": None}
        self._register("staging")

    @contextlib.contextmanager
    def registered(self, name: str, columns: dict):
        names = list(columns)
        values = [columns[n].tolist() if hasattr(columns[n], "tolist") else list(columns[n])
                  for n in names]
        df = self.spark.createDataFrame(list(zip(*values)), names)
        self._write(name, df, append=False, temp=True)
        try:
            yield name
        finally:
            self.temp.pop(name, None)
            self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        if self.in_transaction:
            self.rollback()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for name in list(self.temp) + list(self.live["tables"]) + list(self.live["views"]):
            self.spark.catalog.dropTempView(name)


def _read_tables(catalog: Path) -> set[str]:
    if not catalog.exists():
        return set()
    found = json.loads(catalog.read_text())
    return set(found["tables"]) | set(found["views"])


def _update_by_join(tree: exp.Update, columns: list) -> exp.Select:
    """UPDATE whose condition has no subquery: one SELECT of the table's new rows, the FROM
    table (if any) joined on the condition (each target row matches at most one row)."""
    target = tree.this.copy()
    alias = target.alias_or_name
    if not target.alias:
        target.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    sets = {e.this.name: e.expression for e in tree.expressions}
    where = tree.args["where"].this if tree.args.get("where") else exp.true()
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None:
        hit = where
    else:
        hit = exp.column("sqlnet_hit", "sqlnet_s")
        inner = source.this
        flagged = exp.select(exp.Star(), exp.alias_(exp.true(), "sqlnet_hit")).from_(inner.copy())
        where = _requalify(where, inner.alias_or_name, "sqlnet_s")
        sets = {c: _requalify(e, inner.alias_or_name, "sqlnet_s") for c, e in sets.items()}
    cols = [exp.alias_(exp.Case(ifs=[exp.If(this=exp.Coalesce(this=hit.copy(), expressions=[exp.false()]),
                                           true=sets[c].copy())],
                                default=exp.column(c, alias, quoted=True)), c, quoted=True)
            if c in sets else exp.column(c, alias, quoted=True) for c, _ in columns]
    select = exp.select(*cols).from_(target)
    if source is not None:
        select = select.join(flagged.subquery("sqlnet_s"), on=where.copy(), join_type="LEFT")
    return select


def _requalify(e: exp.Expression, old: str, new: str) -> exp.Expression:
    e = e.copy()
    for c in e.find_all(exp.Column):
        if c.table == old:
            c.set("table", exp.to_identifier(new))
    return e


def _stack(alias: str, names: list[str]) -> exp.Lateral:
    pairs = [x for n in names for x in (exp.Literal.string(n), exp.column(n, alias, quoted=True))]
    return exp.Lateral(this=exp.Anonymous(this="STACK", expressions=[
        exp.Literal.number(len(names)), *pairs]), view=True,
        alias=exp.TableAlias(this=exp.to_identifier("v"),
                             columns=[exp.to_identifier("name"), exp.to_identifier("value")]))


def _with(query: exp.Expression, ctes: list[exp.CTE]) -> exp.Expression:
    """query preceded by the given CTEs (Spark ignores those it does not read)."""
    if not ctes:
        return query
    query = query.copy()
    key = "with_" if "with_" in type(query).arg_types else "with"
    query.set(key, exp.With(expressions=[c.copy() for c in ctes]))
    return query


def _rename(tree: exp.Expression, names: dict[str, str]) -> exp.Expression:
    """References to the tables in names (a statement's CTEs) renamed."""
    for t in tree.find_all(exp.Table):
        if not t.args.get("db") and t.name in names:
            original = t.name
            t.set("this", exp.to_identifier(names[original]))
            if not t.alias:
                t.set("alias", exp.TableAlias(this=exp.to_identifier(original)))
    return tree


def _ordered(node: exp.Expression) -> exp.Expression:
    """ROW_NUMBER() OVER () numbers rows in the order Spark reads them (it insists on an
    order): for sqlnet's tables, the order they were written in."""
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and \
            not node.args.get("order"):
        node = node.copy()
        node.set("order", exp.Order(expressions=[exp.Ordered(
            this=exp.Anonymous(this="monotonically_increasing_id", expressions=[]))]))
    return node


def _range(node: exp.Expression) -> exp.Expression:
    """DuckDB's range(a, b) table is Spark's range(a, b) too (sqlglot would explode an array)."""
    if isinstance(node, exp.GenerateSeries) and node.args.get("is_end_exclusive") and \
            isinstance(node.parent, exp.Table):
        return exp.Anonymous(this="range", expressions=[node.args["start"].copy(),
                                                        node.args["end"].copy()])
    return node


def _zipped(node: exp.Expression) -> exp.Expression:
    """DuckDB's UNNESTs side by side in one SELECT (lists taken pairwise, the shorter padded
    with NULL) as Spark's one generator inline(arrays_zip(...)): Spark allows one per SELECT."""
    if not isinstance(node, exp.Select) or len(node.expressions) < 2 or not all(
            isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) for e in node.expressions):
        return node
    lists = [e.this.this.copy() for e in node.expressions]
    node = node.copy()
    node.set("expressions", [exp.Aliases(
        this=exp.func("INLINE", exp.func("ARRAYS_ZIP", *lists)),
        expressions=[e.args["alias"].copy() for e in node.expressions])])
    return node


def _conform(df, schema: list):
    """df's columns cast to the table's declared types, missing ones given their default."""
    from pyspark.sql import functions as F
    have = set(df.columns)
    return df.select(*[(F.col(f"`{n}`") if n in have else F.expr(d or "NULL")).cast(t).alias(n)
                       for n, t, d in schema])


def _ddl(schema: list) -> str:
    return ", ".join(f"{_q(n)} {t}" for n, t, _ in schema)


def _default(column: exp.ColumnDef) -> str | None:
    for c in column.args.get("constraints") or []:
        if isinstance(c.kind, exp.DefaultColumnConstraint):
            return c.kind.this.sql("spark")
    return None


def _duck_type(spark_type: str) -> str:
    if spark_type.startswith("decimal"):
        return "DECIMAL"
    return TYPES.get(spark_type, spark_type.upper())


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("spark")


def base_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
