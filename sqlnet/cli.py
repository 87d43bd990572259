"""The command line: parse, open the database, call the library, print.

Every error a user can cause is one line on stderr and exit code 2. Each command imports
the library it uses when it runs: ``sqlnet sql``, which hands the user's text to the engine,
starts without sqlglot (70 ms of a 0.2 s process).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .names import DEFAULT_MODEL
from .engines import errors as engine_errors
from .engines import KINDS, kind_of
from .errors import SqlnetError

if TYPE_CHECKING:
    from . import model as M
    from .data import Source
    from .db import Database

EPILOG = "examples:\n  "


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        raise SqlnetError(message)


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _threads(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads or auto, got {text!r}") from None


def _layers(text: str) -> list[list[int]]:
    try:
        return [[int(w) for w in part.split("x")] for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths such as 16,64 or 32x16, got {text!r}") \
            from None


def _names(text: str) -> list[str]:
    return [t for t in text.split(",") if t]


def build_parser() -> Parser:
    p = Parser(prog="sqlnet", description="Train neural networks by backpropagation inside a database: "
                   "a DuckDB file, a postgresql:// URL, or spark:MASTER.")
    p.add_argument("--version", action="version", version=f"sqlnet {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    c = sub.add_parser("init", help="create a model with seeded initial weights",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet init model.duckdb --layers 4,20,3 --loss cross_entropy")
    c.add_argument("db")
    c.add_argument("--layers", type=_ints, required=True, help="widths, inputs first: 4,20,3")
    _model_options(c)

    c = sub.add_parser("train", help="train on a CSV or Parquet file, or a table",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet train iris.duckdb --data iris_train.csv "
                                       "--target species --hidden 16 --epochs 100")
    c.add_argument("db")
    _source_options(c, required=False)
    c.add_argument("--target", type=_names, help="target column(s), comma-separated")
    c.add_argument("--features", type=_names, help="feature columns (default: all but the targets)")
    c.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    c.add_argument("--hidden", type=_ints, default=[], help="a new model's hidden widths: 64,32")
    _model_options(c, for_train=True)
    _control_options(c)
    c.add_argument("--group-by", metavar="COL",
                   help="train one model per distinct value of COL, each on its group's rows")
    c.add_argument("--resume", action="store_true",
                   help="alone: continue the last run where it stopped (after a kill or Ctrl-C); "
                        "with the run's arguments: continue the run they started, do nothing "
                        "if it finished, start it if there is none")
    c.add_argument("--snapshot", metavar="FILE",
                   help="after every epoch, copy the model to FILE for reading while training")
    c.add_argument("--threads", type=_threads, default=None, metavar="N|auto",
                   help="DuckDB threads, or auto (the default): one thread for a small step "
                        "(every run gives the same bits), every core for a large one (faster, "
                        "but the last bit may differ from run to run); 1 for the same bits always")
    c.add_argument("--quiet", action="store_true", help="no progress lines")

    c = sub.add_parser("sweep", help="train every combination of settings together; a leaderboard",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet sweep s.duckdb --data iris_train.csv --target species "
                                       "--lr 0.01,0.1 --hidden 8,16x8 --seed 0,1 --validation-split 0.2")
    c.add_argument("db")
    _source_options(c)
    c.add_argument("--target", type=_names, required=True, help="target column(s)")
    c.add_argument("--features", type=_names, help="feature columns (default: all but the targets)")
    c.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    c.add_argument("--lr", type=_floats, default=[0.1], help="learning rates to try: 0.01,0.1")
    c.add_argument("--hidden", type=_layers, default=[[]],
                   help="hidden layers to try: 16,64 (one layer each) or 32x16 (two layers)")
    c.add_argument("--seed", type=_ints, default=[0], help="seeds to try: 0,1,2")
    c.add_argument("--batch-size", type=_ints, default=[32], help="batch sizes to try: 16,32")
    c.add_argument("--activation", default="relu", help=ACTIVATION_HELP)
    c.add_argument("--output-activation", help="identity, sigmoid, tanh or softmax")
    c.add_argument("--loss", help="half_sse, mse, cross_entropy or bce (default: by the target)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--validation-data", metavar="FILE", help="score every model on this file")
    g.add_argument("--validation-split", type=float, metavar="F",
                   help="hold out this share of the rows (chosen from the first seed)")
    c.add_argument("--keep-best", action="store_true",
                   help="copy the best model to model 0, the one predict and evaluate use")
    for flag, kind, text in CONTROL_FLAGS:
        if flag not in ("--patience", "--min-delta"):
            c.add_argument(flag, type=kind, help=text)
    c.add_argument("--threads", type=_threads, default=None, metavar="N|auto",
                   help="DuckDB threads, or auto (the default; see train --help)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")

    c = sub.add_parser("predict", help="predict with the model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet predict iris.duckdb --data iris_test.csv --out p.csv\n  "
                                       "sqlnet predict shop.duckdb --table visits --into scored "
                                       "--keep visit_id")
    c.add_argument("db")
    _source_options(c)
    out = c.add_mutually_exclusive_group()
    out.add_argument("--out", help="write the predictions to this CSV file (default: stdout)")
    out.add_argument("--into", metavar="TABLE",
                     help="write the predictions into a new table of the database, computed "
                          "there (one transaction)")
    c.add_argument("--keep", type=_names, metavar="COL[,COL...]",
                   help="with --into: the source's columns to copy beside each prediction "
                        "(a key to join on)")
    c.add_argument("--replace", action="store_true",
                   help="with --into: replace the table if it exists")

    c = sub.add_parser("evaluate", help="loss and accuracy (or MSE and MAE) on labelled data",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet evaluate iris.duckdb --data iris_test.csv --target species")
    c.add_argument("db")
    _source_options(c)
    c.add_argument("--target", type=_names, required=True)

    c = sub.add_parser("gradcheck", help="compare the SQL gradients with finite differences",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet gradcheck iris.duckdb --data iris_test.csv --target species")
    c.add_argument("db")
    _source_options(c)
    c.add_argument("--target", type=_names, required=True)
    c.add_argument("--eps", type=float, default=1e-5, help="the finite difference's h (default 1e-5)")
    c.add_argument("--max-params", type=int, default=500,
                   help="check at most this many parameters, chosen by a hash (default 500)")

    c = sub.add_parser("inspect", help="architecture, weight statistics and recent losses",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet inspect iris.duckdb")
    c.add_argument("db")

    c = sub.add_parser("sql", help="run a query against the database and print the result",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + 'sqlnet sql iris.duckdb "SELECT * FROM layers"')
    c.add_argument("db")
    c.add_argument("query")

    c = sub.add_parser("example", help="a seed document's worked example, step by step",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet example tinyml")
    c.add_argument("name", nargs="?", help="which example (omit to list them)")
    c.add_argument("--db", default=":memory:", help="keep the example's model in this file")

    c = sub.add_parser("dataset", help="write a data set that ships with sqlnet as CSV files",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet dataset iris   # writes iris_train.csv, iris_test.csv")
    c.add_argument("name", choices=["iris"])
    c.add_argument("--dir", default=".", help="where to write (default: here)")
    _ecosystem_parsers(sub)
    for c in sub.choices.values():  # every command that opens a database
        if any(a.dest == "db" for a in c._actions):
            c.add_argument("--model", metavar="NAME", default=None,
                           help=f"the model to use, which is also the schema holding its tables "
                                f"(default: {DEFAULT_MODEL})")
            c.add_argument("--warehouse", metavar="DIR",
                           help="with a spark:MASTER database: where Spark keeps its tables "
                                "(default: ./spark-warehouse)")
    return p


ACTIVATION_HELP = "hidden activation: identity, relu, leaky_relu, sigmoid or tanh (default relu)"


def _source_options(c: argparse.ArgumentParser, required: bool = True) -> None:
    g = c.add_mutually_exclusive_group(required=required)
    g.add_argument("--data", help="a CSV file, or Parquet (.parquet)")
    g.add_argument("--table", help="a table in the database")
    g.add_argument("--query", metavar="SQL",
                   help="a query's rows, in the engine's own dialect (say ORDER BY: rows are "
                        "numbered in the order it returns them)")
    c.add_argument("--long", action="store_true",
                   help="the data is long: columns row, col and value, a cell per line, absent "
                        "cells zero (sparse data); col names a feature or a target")


def _model_options(c: argparse.ArgumentParser, for_train: bool = False) -> None:
    keep = " (default: the model's)" if for_train else ""
    c.add_argument("--activation", default="relu", help=ACTIVATION_HELP)
    c.add_argument("--output-activation", help="identity, sigmoid, tanh or softmax "
                                               "(default: what the loss implies)")
    c.add_argument("--loss", help="half_sse, mse, cross_entropy or bce" +
                   (" (default: cross_entropy for a text target, else mse)" if for_train else " (default mse)"))
    c.add_argument("--lr", type=float, default=None if for_train else 0.1, help="learning rate" + keep)
    c.add_argument("--batch-size", type=int, default=None if for_train else 32,
                   help="0: full batch, 1: per sample" + keep)
    c.add_argument("--seed", type=int, default=None if for_train else 0, help="random seed" + keep)
    c.add_argument("--no-shuffle", action="store_true", help="keep file order every epoch")


# Training controls: (flag, type, help). Each sets the Controls field of the same name; a flag
# left out keeps what the model has stored (PyTorch's defaults for a new model).
CONTROL_FLAGS = [
    ("--optimizer", str, "sgd, momentum, nesterov, rmsprop, adam or adamw (default sgd)"),
    ("--momentum", float, "momentum and nesterov: the momentum (default 0.9)"),
    ("--alpha", float, "rmsprop: the smoothing constant (default 0.99)"),
    ("--beta1", float, "adam, adamw: the first moment's decay (default 0.9)"),
    ("--beta2", float, "adam, adamw: the second moment's decay (default 0.999)"),
    ("--eps", float, "rmsprop, adam, adamw: added to the denominator (default 1e-8)"),
    ("--weight-decay", float, "L2 weight decay, coupled (decoupled for adamw; default 0, "
                              "adamw 0.01)"),
    ("--l1", float, "L1 penalty: l1·Σ|p| is added to the loss (default 0)"),
    ("--clip-norm", float, "clip the gradient to this global norm (default: no clipping)"),
    ("--lr-schedule", str, "constant, step, exponential, inv or cosine (default constant)"),
    ("--gamma", float, "step, exponential, inv: the decay factor (default 0.1)"),
    ("--step-size", int, "step: epochs between decays (default 10)"),
    ("--power", float, "inv: lr·(1 + gamma·epoch)^−power (default 0.5)"),
    ("--dropout", float, "drop each hidden unit with this probability in training (default 0)"),
    ("--patience", int, "early stopping: epochs without a better validation loss (needs "
                        "validation data)"),
    ("--min-delta", float, "early stopping: the least decrease of the validation loss that "
                           "counts as better (default 0)"),
]


def _control_options(c: argparse.ArgumentParser) -> None:
    g = c.add_argument_group("training controls (see the README's options table)")
    for flag, kind, text in CONTROL_FLAGS:
        g.add_argument(flag, type=kind, help=text)
    g.add_argument("--standardize", action="store_true", default=None,
                   help="scale the inputs to mean 0 and std 1 (statistics from the training data)")
    g.add_argument("--validation-data", metavar="FILE", help="score this file after every epoch")
    g.add_argument("--validation-split", type=float, metavar="F",
                   help="hold out this share of the training rows, chosen from the seed")
    g.add_argument("--class-weight", metavar="SPEC",
                   help="cross_entropy: 'balanced', or label=weight pairs: 'a=1,b=5'")
    g.add_argument("--keep-history", action="store_true",
                   help="keep every epoch's weights in weight_history")


def _controls(args) -> dict:
    given = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
             for flag, _, _ in CONTROL_FLAGS}
    if args.standardize:
        given["standardize"] = True
    if args.class_weight is not None:
        given["class_weight"] = args.class_weight
    return {k: v for k, v in given.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    """The `sqlnet` command; returns the exit code."""
    created = None
    try:
        args = build_parser().parse_args(argv)
        _OPTIONS.update(warehouse=getattr(args, "warehouse", None), model=getattr(args, "model", None))
        created = _new_file(args)
        code = COMMANDS[args.command](args)
        created = None
        return code
    except SqlnetError as e:
        return _fail(str(e))
    except engine_errors() as e:
        return _fail(_first_line(e))
    except KeyboardInterrupt:
        print("sqlnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `sqlnet predict ... | head`: the reader stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if created:
            _remove(created)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    if "pyspark" in type(e).__module__ or "py4j" in type(e).__module__:
        text = text.split("\n\nJVM stacktrace")[0]
    return text.splitlines()[0] if text else type(e).__name__


def _fail(message: str) -> int:
    print(f"sqlnet: error: {message}", file=sys.stderr)
    return 2


def _new_file(args) -> str | None:
    """The database file this command would create, so that a failure can remove it."""
    db = getattr(args, "db", None)
    if db and kind_of(db) != "duckdb":
        return None
    if args.command in ("init", "train", "sweep") and db and db != ":memory:" and not os.path.exists(db):
        return db
    if args.command in ("predict", "evaluate", "inspect", "sql", "gradcheck") and \
            not os.path.exists(args.db):
        raise SqlnetError(f"no such database: {args.db}")
    return None


def _remove(path: str) -> None:
    """Remove a database file this command created, unless a model was committed to it."""
    from .db import Database
    try:
        with Database(path, read_only=True) as db:
            if db.model_names():
                return
    except (SqlnetError, *engine_errors()):
        pass
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)


def _open(path: str, read_only: bool = False, warehouse: str | None = None) -> Database:
    from .db import Database
    return Database(path, read_only=read_only, warehouse=warehouse or _OPTIONS["warehouse"],
                    model=_OPTIONS["model"])


# --warehouse (for spark:MASTER databases) and --model: how every command opens its database
_OPTIONS: dict[str, str | None] = {"warehouse": None, "model": None}


def cmd_init(args) -> int:
    with _open(args.db) as db:
        return _init(db, args)


def _init(db: Database, args) -> int:
    from . import model as M
    if db.has_model():
        raise SqlnetError(f"{args.db} already holds a model; train it, or use another file")
    net = M.Network(widths=args.layers, activation=args.activation,
                    output_activation=args.output_activation, loss=args.loss or "mse", lr=args.lr,
                    batch_size=args.batch_size, seed=args.seed, shuffle=not args.no_shuffle)
    with db.transaction():
        M.create(db, net)
    print(f"created {args.db}: layers {','.join(map(str, net.widths))}, "
          f"{' → '.join(net.activations)}, loss {net.loss}")
    return 0


def cmd_train(args) -> int:
    with _open(args.db) as db:
        return _train(db, args)


def _train(db: Database, args) -> int:
    from .train import Interrupted, Settings, resume, train
    try:
        if args.resume and not (args.data or args.table or args.query or args.target):
            r = resume(db, quiet=args.quiet, snapshot=args.snapshot, n_threads=args.threads)
        else:
            r = _train_run(db, args, train, Settings)
    except Interrupted as e:
        print(f"sqlnet: {e}; resume with: sqlnet train {args.db} --resume", file=sys.stderr)
        return 130
    loss = "n/a" if r.loss is None else f"{r.loss:.6g}"
    how = "" if r.stopped == "completed" else f" (stopped early: {r.stopped.replace('_', ' ')})"
    if r.done_before:
        print(f"run {r.run} had these arguments and finished ({r.epochs} epochs, {r.steps} steps "
              f"in total, last epoch's mean loss {loss}{how}); nothing to do")
        return 0
    print(f"trained run {r.run}: {r.epochs} epochs, {r.steps} steps in total, {r.rows} rows, "
          f"{r.seconds:.1f} s, last epoch's mean loss {loss}{how}")
    return 0


def _train_run(db: Database, args, train, Settings):
    """A new run; with --resume, the run these arguments started (continued, or found done)."""
    from .settings import arguments
    from .train import rerun
    if not (args.data or args.table or args.query):
        raise SqlnetError("train needs --data FILE, --table NAME or --query SQL (or --resume)")
    if not args.target:
        raise SqlnetError("train needs --target COL")
    s = Settings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                 shuffle=False if args.no_shuffle else None, hidden=args.hidden,
                 activation=args.activation, output_activation=args.output_activation, loss=args.loss,
                 threads=args.threads, controls=_controls(args),
                 validation=_validation(args), keep_history=args.keep_history,
                 group_by=args.group_by)
    source = _source(args)
    found = args.resume and rerun(db, arguments(source, args.target, args.features, s))
    if not found and db.has_model() and (args.hidden or args.loss or args.output_activation):
        raise SqlnetError(f"{args.db} already holds a model; --hidden, --loss and "
                          "--output-activation only shape a new one")
    return train(db, source, args.target, args.features, s, quiet=args.quiet,
                 snapshot=args.snapshot, resume=args.resume)


def _validation(args):
    from .data import Source
    from .train import Validation
    if args.validation_data and args.validation_split is not None:
        raise SqlnetError("give --validation-data or --validation-split, not both")
    if args.validation_data:
        return Validation(source=Source(path=args.validation_data, long=args.long))
    if args.validation_split is not None:
        return Validation(split=args.validation_split)
    return None


def _source(args) -> Source:
    from .data import Source
    return Source(path=args.data, table=args.table, long=args.long,
                  query=getattr(args, "query", None))


def cmd_sweep(args) -> int:
    from .sweep import Grid, sweep
    from .train import Settings
    controls = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
                for flag, _, _ in CONTROL_FLAGS if flag not in ("--patience", "--min-delta")}
    base = Settings(epochs=args.epochs, activation=args.activation,
                    output_activation=args.output_activation, loss=args.loss, threads=args.threads,
                    controls={k: v for k, v in controls.items() if v is not None},
                    validation=_validation(args))
    grid = Grid(lr=args.lr, hidden=args.hidden, seed=args.seed, batch_size=args.batch_size)
    with _open(args.db) as db:
        board = sweep(db, _source(args), args.target, grid, base, args.features,
                      keep_best=args.keep_best, quiet=args.quiet)
    print(f"sweep of {len(board)} models; the leaderboard is in sweep_results:")
    print_rows(["rank", "model", "lr", "hidden", "seed", "batch_size", "train_loss", "eval_loss",
                "eval_accuracy", "eval_mse"], board)
    if args.keep_best:
        print(f"model {board[0][1]} is now the database's model (model 0)")
    return 0


def cmd_predict(args) -> int:
    from .predict import predict
    if (args.keep or args.replace) and not args.into:
        raise SqlnetError("--keep and --replace go with --into TABLE")
    with _open(args.db) as db:
        names, rows = predict(db, _source(args), into=args.into, keep=args.keep,
                              replace=args.replace)
    if args.into:
        print(f"wrote {rows} predictions to table {args.into}: {', '.join(names)}")
        return 0
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow(names)
        w.writerows(rows)
    finally:
        if args.out:
            out.close()
            print(f"wrote {len(rows)} predictions to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from .predict import evaluate
    with _open(args.db) as db:
        scores = evaluate(db, _source(args), args.target)
    print("  ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()))
    return 0


def cmd_gradcheck(args) -> int:
    from .gradcheck import gradcheck
    with _open(args.db) as db:
        rows = gradcheck(db, _source(args), args.target, h=args.eps, max_params=args.max_params)
    print(f"SQL gradients against central differences (h = {args.eps:g}) on {args.data or args.table or 'the query'}:")
    names = ["layer", "checked", "max_abs_error", "max_rel_error"]
    print_rows(names, rows)
    return 0


def cmd_inspect(args) -> int:
    from . import model as M
    with _open(args.db, read_only=True) as db:
        if getattr(args, "format", "table") != "table":
            return _inspect_as(db, args.format)
        net = M.load(db)
        code = _inspect(db, net)
        _print_sparkline(db, net)
        return code


def _inspect(db: Database, net: M.Network) -> int:
    from .queries import query
    print(f"model {net.model}: {net.task}, loss {net.loss}, lr {net.lr:g}, "
          f"batch size {net.batch_size or 'full'}, seed {net.seed}, "
          f"layers {','.join(map(str, net.widths))}")
    print_table(db.run(query("layer_stats"), model=net.model))
    n = db.scalar(query("model_count"))
    if n > 1:
        group = db.sql("SELECT ANY_VALUE(group_column) FROM model_groups").fetchone()[0]
        why = f"one per value of {group!r} (model_groups)" if group else "a sweep's (sweep_results)"
        print(f"\nthe database holds {n} models, {why}; this is model 0")
    runs, epochs, steps, seconds = db.rows(query("training_summary"), model=net.model)[0]
    print(f"\ntrained: {runs} run(s), {epochs} epoch(s), {steps} step(s), {seconds or 0:.1f} s")
    if steps:
        print_table(db.run(query("epoch_losses"), model=net.model))
    return 0


def cmd_sql(args) -> int:
    # The engine runs the user's text as written: no sqlnet statement, so no Database,
    # whose statements are sqlglot trees. Unqualified names: the model's schema, then yours.
    from .engines import connect
    from .names import model_name
    engine = connect(args.db, warehouse=_OPTIONS["warehouse"])
    try:
        name = model_name(args.model or DEFAULT_MODEL)
        if name in engine.schemas_holding("sqlnet_meta"):
            engine.use_schema(name, engine.user_schema)
        cursor = engine.run_text(args.query, [])
        if cursor.description:
            _emit(cursor, getattr(args, "format", "table"))
    finally:
        engine.close()
    return 0


def cmd_example(args) -> int:
    from .examples import EXAMPLES, run_example
    if not args.name:
        for name, ex in EXAMPLES.items():
            print(f"{name:10} {ex.title}")
        return 0
    if args.name not in EXAMPLES:
        raise SqlnetError(f"no example {args.name!r}; choose one of {', '.join(EXAMPLES)}")
    with _open(args.db) as db:
        run_example(db, EXAMPLES[args.name], out=sys.stdout)  # noqa: the current stdout
    return 0


def cmd_dataset(args) -> int:
    here = Path(__file__).parent / "datasets"
    target = Path(args.dir)
    if not target.is_dir():
        raise SqlnetError(f"no such directory: {args.dir}")
    for part in ("train", "test"):
        name = f"{args.name}_{part}.csv"
        (target / name).write_bytes((here / name).read_bytes())
        print(f"wrote {target / name}")
    return 0


def print_table(cursor, out=None, digits: int = 6) -> None:
    """A query result as an aligned text table."""
    print_rows([d[0] for d in cursor.description], cursor.fetchall(), out, digits)


def print_rows(names: list[str], rows: list, out=None, digits: int = 6) -> None:
    """Rows under their column names, aligned."""
    out = out or sys.stdout
    rows = [[_cell(v, digits) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    print("  ".join(n.rjust(w) for n, w in zip(names, widths)), file=out)
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)), file=out)


def _cell(v, digits: int) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


COMMANDS = {"init": cmd_init, "train": cmd_train, "sweep": cmd_sweep, "predict": cmd_predict, "evaluate": cmd_evaluate,
            "inspect": cmd_inspect, "gradcheck": cmd_gradcheck, "sql": cmd_sql, "example": cmd_example, "dataset": cmd_dataset}


# Ecosystem commands: export, import, plot, phases, trace (and --format for sql, inspect).

def _ecosystem_parsers(sub) -> None:
    c = sub.add_parser("export", help="write the model's weights as .npz (numpy) or .pt (PyTorch), "
                                      "or as scoring SQL (.sql) that runs without sqlnet",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet export iris.duckdb --to iris.pt\n  "
                                       "sqlnet export iris.duckdb --to score.sql --dialect postgres")
    c.add_argument("db")
    c.add_argument("--to", required=True, metavar="FILE",
                   help="FILE.npz, or FILE.pt: a state_dict of torch.nn.Sequential(Linear, act, ...), "
                        "or FILE.sql: a function (a table macro on DuckDB) that scores your rows")
    c.add_argument("--dialect", choices=KINDS,
                   help="(.sql) the engine the SQL is for (default: the database's own)")
    c.add_argument("--long", action="store_true",
                   help="(.sql) score long data: a sample's (row, col, value) cells")

    c = sub.add_parser("import", help="replace the model's weights by those of a .npz or .pt file",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet import iris.duckdb --from iris.pt")
    c.add_argument("db")
    c.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="a file written by `sqlnet export` (or by torch.save(model.state_dict()))")

    c = sub.add_parser("plot", help="training curves (loss, learning rate) as a PNG",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet plot iris.duckdb --out curves.png --weights")
    c.add_argument("db")
    c.add_argument("--out", required=True, metavar="FILE.png", help="the image to write")
    c.add_argument("--weights", action="store_true", help="add a histogram of each layer's weights")

    c = sub.add_parser("phases", help="the SQL of each phase of a training step, as it runs",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet phases iris.duckdb --pretty")
    c.add_argument("db")
    c.add_argument("--dialect", default="duckdb", choices=["duckdb", "postgres", "spark"],
                   help="duckdb (default: what runs); postgres and spark are sqlglot's "
                        "transpilation, not run there yet")
    c.add_argument("--pretty", action="store_true",
                   help="laid out on several lines, with the sql/ files' comments")

    c = sub.add_parser("trace", help="one sample's activations, deltas and gradients, layer by layer",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet trace iris.duckdb --data iris_test.csv --row 0")
    c.add_argument("db")
    _source_options(c)
    c.add_argument("--row", type=int, required=True,
                   help="the sample: its data row, from 0, as `sqlnet predict` numbers them")

    c = sub.add_parser("models", help="the models the database holds, one schema each",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet models shop.duckdb")
    c.add_argument("db")

    c = sub.add_parser("drop", help="remove one model (its schema and all its tables)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EPILOG + "sqlnet drop shop.duckdb --model churn")
    c.add_argument("db")

    from .show import FORMATS
    for name in ("sql", "inspect", "trace", "models"):
        sub.choices[name].add_argument("--format", choices=FORMATS, default="table",
                                       help="table (default), csv, json or markdown")


def _existing(path: str) -> str:
    """The commands below read a model: a missing file is an error, never a new database."""
    if path != ":memory:" and kind_of(path) == "duckdb" and not os.path.exists(path):
        raise SqlnetError(f"no such database: {path}")
    return path


def cmd_export(args) -> int:
    from . import model as M
    from .interop import export
    from .scoring import export as export_sql
    sql = Path(args.to).suffix.lower() == ".sql"
    if not sql and (args.dialect or args.long):
        raise SqlnetError("--dialect and --long go with scoring SQL: --to FILE.sql")
    with _open(_existing(args.db), read_only=True) as db:
        if sql:
            kind = f"scoring SQL for {export_sql(db, args.to, args.dialect, args.long)}"
        else:
            kind = export(db, args.to)
        layers = M.load(db).widths
    print(f"wrote {args.to} ({kind}): layers {','.join(map(str, layers))}")
    return 0


def cmd_import(args) -> int:
    from . import model as M
    from .interop import import_
    with _open(_existing(args.db)) as db:
        kind = import_(db, args.source)
        layers = M.load(db).widths
    print(f"imported {args.source} ({kind}) into {args.db}: layers {','.join(map(str, layers))}")
    return 0


def _emit(cursor, fmt: str) -> None:
    from .show import emit
    emit(cursor, fmt)


def _print_sparkline(db: Database, net: M.Network) -> None:
    """The whole loss curve on one line, beside the last epochs' table."""
    from .queries import query
    from .show import sparkline
    losses = [r[1] for r in db.rows(query("loss_per_epoch"), model=net.model)]
    if losses:
        print(f"loss per epoch: {sparkline(losses)}  {losses[0]:.6g} → {losses[-1]:.6g}")


def _inspect_as(db: Database, fmt: str) -> int:
    """inspect as JSON (one document), or as CSV or Markdown sections."""
    from . import model as M
    from .queries import query
    from .show import json_value, records, render_rows, rows_of, sparkline
    net = M.load(db)
    layers = rows_of(db.run(query("layer_stats"), model=net.model))
    summary = rows_of(db.run(query("training_summary"), model=net.model))
    epochs = rows_of(db.run(query("loss_per_epoch"), model=net.model))
    spark = sparkline([r[1] for r in epochs[1]])
    if fmt == "json":
        import json
        doc = {"model": {"model": net.model, "task": net.task, "loss": net.loss, "lr": net.lr,
                         "batch_size": net.batch_size, "seed": net.seed, "shuffle": net.shuffle,
                         "widths": net.widths, "activations": net.activations},
               "layers": records(*layers), "training": records(*summary)[0],
               "epochs": records(*epochs), "loss_sparkline": spark}
        print(json.dumps(doc, indent=1, default=json_value))
        return 0
    head = "# " if fmt == "csv" else ""
    print(f"{head}model {net.model}: {net.task}, loss {net.loss}, lr {net.lr:g}, batch size "
          f"{net.batch_size or 'full'}, seed {net.seed}, layers {','.join(map(str, net.widths))}")
    print(render_rows(*layers, fmt))
    print(f"\n{head}training")
    print(render_rows(*summary, fmt))
    if epochs[1]:
        print(f"\n{head}loss per epoch: {spark}")
        print(render_rows(*epochs, fmt))
    return 0


def cmd_plot(args) -> int:
    from .plot import plot
    with _open(_existing(args.db), read_only=True) as db:
        drawn = plot(db, args.out, weights=args.weights)
    print(f"wrote {args.out}: {', '.join(drawn['series'])}")
    return 0


def cmd_phases(args) -> int:
    from . import model as M
    from .listing import listing
    from .queries import query
    with _open(_existing(args.db), read_only=True) as db:
        net = M.load(db)
        validate = bool(db.scalar(query("valid_count"), model=net.model))
        rows = db.rows(query("inputs_per_row"))[0][1]
        print(listing(net, dialect=args.dialect, pretty=args.pretty, validate=validate,
                      rows=rows))
    return 0


def cmd_trace(args) -> int:
    from .trace import report, trace
    with _open(_existing(args.db), read_only=True) as db:  # read-only: the model cannot change
        t = trace(db, _source(args), args.row)
    if args.format == "json":
        import dataclasses
        import json
        print(json.dumps(dataclasses.asdict(t), indent=1))
    else:
        print(report(t, args.format))
    return 0


def cmd_models(args) -> int:
    from .catalog import COLUMNS, models
    from .show import render_rows
    with _open(_existing(args.db), read_only=True) as db:
        print(render_rows(COLUMNS, models(db), args.format))
    return 0


def cmd_drop(args) -> int:
    from .catalog import drop
    if not args.model:
        raise SqlnetError("drop needs --model NAME: the model to remove (`sqlnet models` lists them)")
    with _open(_existing(args.db)) as db:
        drop(db, args.model)
    print(f"dropped model {args.model} from {args.db}")
    return 0


COMMANDS.update({"export": cmd_export, "import": cmd_import, "plot": cmd_plot,
                 "phases": cmd_phases, "trace": cmd_trace, "models": cmd_models, "drop": cmd_drop})
