"""scikit-learn style estimators over sqlnet: ``MLPClassifier`` and ``MLPRegressor``.

The data goes into DuckDB column by column (no Python loop over rows), and every number
of the model is computed there: :func:`sqlnet.train.train` trains it, the forward phase of
:mod:`sqlnet.predict` answers. scikit-learn is optional: with it, these are real sklearn
estimators (clone, Pipeline, GridSearchCV); without it, get_params, set_params and score
work the same way.

>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 4)
>>> y = np.array(["no", "no", "no", "yes"] * 4)
>>> clf = MLPClassifier(hidden_layer_sizes=(4,), learning_rate=0.5, max_epochs=40).fit(X, y)
>>> clf.predict([[1.0, 1.0], [0.0, 0.0]]).tolist()
['yes', 'no']
"""
from __future__ import annotations

import contextlib
import inspect
import numbers

import numpy as np
from sqlglot import exp

from . import model as M
from .data import Source
from .db import MODEL_TABLES, VIEWS, Database
from .errors import SqlnetError
from .phases import forward, with_ctes
from .queries import render, table

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
    HAVE_SKLEARN = True
except ImportError:  # the same interface without scikit-learn
    HAVE_SKLEARN = False

INPUT_TABLE = "sqlnet_estimator_input"  # the fit or predict data (temporary), dropped after use


if not HAVE_SKLEARN:
    class BaseEstimator:
        """get_params and set_params from the constructor's signature, as sklearn does."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p for p in sig.parameters if p != "self")

        def get_params(self, deep: bool = True) -> dict:
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params) -> "BaseEstimator":
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
                setattr(self, k, v)
            return self

        def __repr__(self) -> str:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class ClassifierMixin:
        def score(self, X, y) -> float:
            """The share of samples predicted right."""
            return float(np.mean(self.predict(X) == np.asarray(y)))

    class RegressorMixin:
        def score(self, X, y) -> float:
            """R², the coefficient of determination (1 is perfect)."""
            y = np.asarray(y, dtype=float)
            p = np.asarray(self.predict(X), dtype=float).reshape(y.shape)
            ss_res = ((y - p) ** 2).sum(axis=0)
            ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
            return float(np.mean(1 - ss_res / ss_tot))

    def check_is_fitted(est) -> None:
        if not hasattr(est, "coefs_"):
            raise AttributeError(f"this {type(est).__name__} is not fitted yet; call fit first")


def _plain(data, for_y: bool = False):
    """What sklearn's validation cannot read itself (a DuckDB relation) as arrays or Arrow."""
    if type(data).__module__.startswith("duckdb"):
        if hasattr(data, "to_arrow_table"):
            with contextlib.suppress(ImportError):
                import pyarrow  # noqa: F401  (keeps the column names)
                return data.to_arrow_table()
        cols = data.fetchnumpy()
        stacked = np.column_stack([np.asarray(cols[c]) for c in data.columns])
        return stacked[:, 0] if stacked.shape[1] == 1 and for_y else stacked
    if not HAVE_SKLEARN:
        if hasattr(data, "column_names") and hasattr(data, "column"):  # an Arrow table
            return np.column_stack([data.column(n).to_numpy() for n in data.column_names])
        if hasattr(data, "to_numpy"):                                   # pandas, polars
            return data.to_numpy()
    return data


def _target(y):
    """y as something np.asarray reads: a one-column relation or table becomes its column."""
    if y is None:
        return None  # validation says that y is required
    y = _plain(y, for_y=True)
    if hasattr(y, "column_names") and hasattr(y, "column"):            # an Arrow table
        y = np.column_stack([y.column(n).to_numpy() for n in y.column_names])
        return y[:, 0] if y.shape[1] == 1 else y                       # a table of one column
    elif hasattr(y, "to_numpy") and not hasattr(y, "iloc"):            # polars, Arrow arrays
        y = y.to_numpy()
    y = np.asarray(y)
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 and not HAVE_SKLEARN else y


# Constructor parameters that set sqlnet's training controls (None: the model's default).
CONTROL_PARAMS = ("optimizer", "momentum", "weight_decay", "l1", "clip_norm", "lr_schedule",
                  "dropout", "standardize", "patience")


class _SqlnetMLP(BaseEstimator):
    """What the classifier and the regressor share: fit into DuckDB, predict from it."""

    _loss: str = "mse"

    def _settings(self):
        from .train import Settings
        seed = self.random_state
        if seed is None:
            seed = 0
        elif not isinstance(seed, numbers.Integral):  # a RandomState
            seed = int(seed.randint(0, M.MAX_SEED))
        extra = {"controls": self._controls(), "validation": self._validation()}
        if not isinstance(self.max_epochs, numbers.Integral) or self.max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer, got {self.max_epochs!r}")
        return Settings(epochs=int(self.max_epochs), lr=float(self.learning_rate),
                        batch_size=int(self.batch_size), seed=int(seed), shuffle=bool(self.shuffle),
                        hidden=[int(h) for h in self.hidden_layer_sizes], activation=self.activation,
                        output_activation=getattr(self, "output_activation", None),
                        loss=self._loss_name(), threads=self._threads(), **extra)

    def _threads(self) -> int | None:
        """threads: None or "auto" by the step's size (sqlnet.train.thread_count), else a count."""
        return None if self.threads in (None, "auto") else int(self.threads)

    def _loss_name(self) -> str:
        return self._loss

    def _controls(self) -> dict:
        """The training controls, as `sqlnet train`'s flags of the same names set them."""
        given = {name: getattr(self, name) for name in CONTROL_PARAMS}
        return {k: v for k, v in given.items() if v is not None}

    def _validation(self):
        from .train import Validation
        return Validation(split=float(self.validation_split)) if self.validation_split else None

    @contextlib.contextmanager
    def _session(self, fitting: bool = False):
        """The database: the file named by ``database`` (opened for this call only), or an
        in-memory one kept with the estimator (rebuilt from coefs_ after unpickling)."""
        if self.database is not None:
            with Database(str(self.database), model=self.model) as db:
                yield db
            return
        if fitting or getattr(self, "_db", None) is None:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            self._db = Database(":memory:")
            if not fitting:
                self._rebuild(self._db)
        yield self._db

    def _rebuild(self, db: Database) -> None:
        from .interop import write_parameters
        net = M.Network(widths=self._widths(), activation=self.activation,
                        output_activation=self._activations[-1], loss=self._loss_name())
        with db.transaction():
            M.create(db, net)
            db.sql("INSERT INTO feature_names SELECT 0, i, 'x' || i FROM range(?) AS t(i)",
                   [self.n_features_in_])
            db.sql("INSERT INTO target_names SELECT 0, i, name FROM "
                   "(SELECT unnest(?) AS name, generate_subscripts(?, 1) - 1 AS i)",
                   [self._targets, self._targets])
            if self._loss_name() == "cross_entropy":
                db.sql("INSERT INTO classes SELECT 0, i, CAST(i AS VARCHAR) FROM range(?) AS t(i)",
                       [len(self.classes_)])
                self._name_classes(db)
            write_parameters(db, list(zip(self.coefs_, self.intercepts_)))

    def _widths(self) -> list[int]:
        return [self.coefs_[0].shape[0]] + [W.shape[1] for W in self.coefs_]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_db", None)  # a connection does not pickle; coefs_ rebuild it
        return state

    def _fit(self, X, Y: np.ndarray):
        """Train on X (n × features) and Y (n × targets) in the database."""
        from .train import train
        settings = self._settings()
        features = [f"x{i}" for i in range(X.shape[1])]
        targets = ["y"] if self._loss_name() == "cross_entropy" else \
            [f"y{i}" for i in range(Y.shape[1])]
        with self._session(fitting=True) as db:
            if db.has_model() and not self.warm_start:
                _forget_model(db)
            _put(db, X, features, self._stored_targets(db, Y), targets)
            try:
                report = train(db, Source(table=INPUT_TABLE, own=True), targets, features, settings,
                               quiet=not self.verbose)
            except SqlnetError as e:  # a bad setting, or divergence: sklearn's ValueError
                raise ValueError(str(e)) from e
            finally:
                db.sql(f"DROP TABLE IF EXISTS {INPUT_TABLE}")
            self._read_fitted(db, targets)
            self._name_classes(db)
        self.n_iter_ = report.epochs
        return self

    def _stored_targets(self, db: Database, Y: np.ndarray) -> np.ndarray:
        """Y as the database's model reads it (the classifier: its stored labels)."""
        return Y

    def _name_classes(self, db: Database) -> None:
        """After fit: the classifier's stored classes named by its labels."""

    def _predict_into(self, X, into: str, replace: bool) -> None:
        """The predictions for X as a new table of the estimator's database, computed there
        (sqlnet.predict.predict_into): row (X's row, from 0), then the answers."""
        from .predict import predict_into
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        with self._session() as db:
            _put(db, X, [f"x{i}" for i in range(X.shape[1])])
            try:
                predict_into(db, Source(table=INPUT_TABLE, own=True), into, replace=replace)
            except SqlnetError as e:
                raise ValueError(str(e)) from e
            finally:
                db.sql(f"DROP TABLE IF EXISTS {INPUT_TABLE}")

    def _read_fitted(self, db: Database, targets: list[str]) -> None:
        from .interop import read_parameters
        params = read_parameters(db)
        self.coefs_ = [W for W, _ in params]
        self.intercepts_ = [b for _, b in params]
        self._activations = M.load(db).activations
        self._targets = targets
        curve = db.sql("SELECT avg(loss) FROM training_log WHERE model = 0 GROUP BY epoch "
                       "ORDER BY epoch").fetchall()
        self.loss_curve_ = [r[0] for r in curve]
        self.loss_ = self.loss_curve_[-1] if curve else None

    def _outputs(self, X) -> np.ndarray:
        """The output layer's activations for X, n × outputs, computed by the SQL forward phase."""
        from .predict import _prepare
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        features = [f"x{i}" for i in range(X.shape[1])]
        with self._session() as db:
            _put(db, X, features)
            try:
                net, _ = _prepare(db, Source(table=INPUT_TABLE, own=True), with_targets=False)
            finally:
                db.sql(f"DROP TABLE IF EXISTS {INPUT_TABLE}")
            out = with_ctes(exp.select("row", "col", "value").from_(table(f"a{net.depth}")),
                            forward(net, "loaded_rows", "loaded_inputs"))
            cols = db.run(out, batch=0).fetchnumpy()
        A = np.zeros((X.shape[0], net.widths[-1]))
        A[cols["row"], cols["col"]] = cols["value"]
        return A

    def _check_X(self, X, reset: bool) -> np.ndarray:
        X = _plain(X)
        if HAVE_SKLEARN:
            return validate_data(self, X, reset=reset, dtype=np.float64)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array of samples × features, got {X.ndim}-D")
        if not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity")
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        return X

    def _check_Xy(self, X, y, numeric: bool):
        X, y = _plain(X), _target(y)
        if HAVE_SKLEARN:
            return validate_data(self, X, y, dtype=np.float64, multi_output=numeric,
                                 y_numeric=numeric)
        X = self._check_X(X, reset=True)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
        return X, y

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coefs_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _forget_model(db: Database) -> None:
    """fit starts afresh, as sklearn's fit does: the old model's rows go (never other tables)."""
    with db.transaction():
        for name in MODEL_TABLES[1:]:
            if name not in VIEWS:
                db.sql(render(exp.delete(table(name), where="model = 0")))


def _put(db: Database, X: np.ndarray, features: list[str], Y: np.ndarray | None = None,
         targets: list[str] | None = None) -> None:
    """X (and Y) as the table INPUT_TABLE, through DuckDB's scan of numpy columns."""
    columns = {f: np.ascontiguousarray(X[:, i], dtype=np.float64) for i, f in enumerate(features)}
    if Y is not None:
        columns.update({t: np.ascontiguousarray(Y[:, i]) for i, t in enumerate(targets)})
    with db.registered("sqlnet_estimator_columns", columns) as scan:
        db.run(exp.Create(this=table(INPUT_TABLE), kind="TABLE", replace=True,
                          properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                          expression=exp.select("*").from_(table(scan))))


class MLPClassifier(ClassifierMixin, _SqlnetMLP):
    """A classifier trained by backpropagation in DuckDB: softmax output, cross-entropy loss.

    The parameters mirror ``sqlnet train``: hidden_layer_sizes (--hidden), activation,
    learning_rate (--lr), batch_size (0: the full batch), max_epochs (--epochs),
    random_state (--seed; None is 0), shuffle (not --no-shuffle), optimizer, threads (None:
    auto, as --threads);
    database is a .duckdb file that keeps the model (default: in memory), model its name
    there (--model: the schema of its tables; None is sqlnet); warm_start
    continues training the model already there instead of starting afresh.

    After fit: classes_, coefs_ and intercepts_ (per layer, W as inputs × units),
    n_features_in_, n_iter_ (epochs), loss_curve_ (mean loss per epoch) and loss_.
    """

    _loss = "cross_entropy"

    def __init__(self, hidden_layer_sizes=(16,), activation="relu", learning_rate=0.1,
                 batch_size=32, max_epochs=10, random_state=None, shuffle=True, optimizer="sgd",
                 threads=None, database=None, model=None, warm_start=False, verbose=False, momentum=None,
                 weight_decay=None, l1=None, clip_norm=None, lr_schedule=None, dropout=None,
                 standardize=None, validation_split=None, patience=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.shuffle = shuffle
        self.optimizer = optimizer
        self.threads = threads
        self.database = database
        self.model = model
        self.warm_start = warm_start
        self.verbose = verbose
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.l1 = l1
        self.clip_norm = clip_norm
        self.lr_schedule = lr_schedule
        self.dropout = dropout
        self.standardize = standardize
        self.validation_split = validation_split
        self.patience = patience

    def fit(self, X, y) -> "MLPClassifier":
        """Train on samples X (n × features) and class labels y (any sortable labels)."""
        X, y = self._check_Xy(X, y, numeric=False)
        if HAVE_SKLEARN:
            check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("Classifier can't train when only one class is present.")
        if self.warm_start and hasattr(self, "classes_") and not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start needs the classes {self.classes_.tolist()}, "
                             f"got {classes.tolist()}")
        self.classes_ = classes
        return self._fit(X, codes.reshape(-1, 1).astype(np.int64))

    def _labels(self) -> list[str]:
        return [str(c) for c in self.classes_]

    def _stored_targets(self, db: Database, Y: np.ndarray) -> np.ndarray:
        # a warm start's labels are the stored classes' names (the first fit stores codes,
        # then names them)
        if self.warm_start and db.has_model() and [r[0] for r in db.sql(
                "SELECT label FROM classes WHERE model = 0 ORDER BY class").fetchall()] \
                == self._labels():
            return np.array(self._labels(), dtype=object)[Y[:, 0]].reshape(-1, 1)
        return Y

    def _name_classes(self, db: Database) -> None:
        db.executemany("UPDATE classes SET label = ? WHERE model = 0 AND class = ?",
                       [[label, k] for k, label in enumerate(self._labels())])

    def predict_proba(self, X) -> np.ndarray:
        """Each class's probability (softmax of the output layer), n × classes."""
        return self._outputs(X)

    def predict(self, X, into: str | None = None, replace: bool = False) -> np.ndarray | None:
        """The most probable class (the first one on a tie, as `sqlnet predict` does).

        With into, the predictions go into a new table of that name in the estimator's
        ``database`` instead, computed there as ``sqlnet predict --into`` computes them (row,
        prediction, probability, probability_<label> per class), and None is returned;
        replace replaces an existing table.
        """
        if into is not None:
            return self._predict_into(X, into, replace)
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _SqlnetMLP):
    """A regressor trained by backpropagation in DuckDB.

    As :class:`MLPClassifier`, plus loss (mse or half_sse; bce for targets in [0, 1])
    and output_activation (default: what the loss implies, else identity). y may have
    several columns; predict then gives as many.
    """

    def __init__(self, hidden_layer_sizes=(16,), activation="relu", learning_rate=0.1,
                 batch_size=32, max_epochs=10, random_state=None, shuffle=True, loss="mse",
                 output_activation=None, optimizer="sgd", threads=None, database=None,
                 model=None, warm_start=False, verbose=False, momentum=None, weight_decay=None, l1=None,
                 clip_norm=None, lr_schedule=None, dropout=None, standardize=None,
                 validation_split=None, patience=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.shuffle = shuffle
        self.loss = loss
        self.output_activation = output_activation
        self.optimizer = optimizer
        self.threads = threads
        self.database = database
        self.model = model
        self.warm_start = warm_start
        self.verbose = verbose
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.l1 = l1
        self.clip_norm = clip_norm
        self.lr_schedule = lr_schedule
        self.dropout = dropout
        self.standardize = standardize
        self.validation_split = validation_split
        self.patience = patience

    def _loss_name(self) -> str:
        if self.loss == "cross_entropy":
            raise ValueError("MLPRegressor takes loss mse, half_sse or bce; "
                             "use MLPClassifier for cross_entropy")
        return self.loss

    def fit(self, X, y) -> "MLPRegressor":
        """Train on samples X (n × features) and numeric targets y (n, or n × targets)."""
        X, y = self._check_Xy(X, y, numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._one_target = y.ndim == 1
        return self._fit(X, y.reshape(len(y), -1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may have several columns
        return tags

    def predict(self, X, into: str | None = None, replace: bool = False) -> np.ndarray | None:
        """The output layer's values: shape (n,) if fit on one target column, else n × targets.

        With into, they go into a new table of that name in the estimator's ``database``
        instead (row, then a column per target: y0, y1, ...), and None is returned.
        """
        if into is not None:
            return self._predict_into(X, into, replace)
        out = self._outputs(X)
        return out[:, 0] if self._one_target else out
