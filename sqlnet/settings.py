"""What `sqlnet train` is asked for: the run's settings and its validation data."""
from __future__ import annotations

from dataclasses import dataclass, field

from .data import Source
from .errors import SqlnetError


@dataclass
class Settings:
    """What `sqlnet train` was asked for; None keeps what the model has stored."""

    epochs: int = 10                 # passes over the data
    lr: float | None = None          # SGD step size
    batch_size: int | None = None    # 0: full batch; 1: per sample
    seed: int | None = None          # initial weights and shuffle order
    shuffle: bool | None = None      # False keeps file order
    hidden: list[int] = field(default_factory=list)  # a new model's hidden widths
    activation: str = "relu"         # a new model's hidden activation
    output_activation: str | None = None
    loss: str | None = None          # a new model's loss (default: inferred from the target)
    threads: int | None = None       # DuckDB threads; None: by the step's size (train.thread_count)
    controls: dict = field(default_factory=dict)  # Controls fields to set (optimizer, ...)
    validation: "Validation | None" = None  # data scored after every epoch
    keep_history: bool = False       # keep every epoch's weights in weight_history
    group_by: str | None = None      # one model per distinct value of this column


@dataclass
class Validation:
    """Validation data: a file or table (source), or a seeded share of the training rows."""

    source: Source | None = None
    split: float | None = None       # e.g. 0.1 holds out a tenth of the training rows

    def check(self) -> "Validation":
        if self.split is not None and not 0 < self.split < 1:
            raise SqlnetError(f"--validation-split must be between 0 and 1, got {self.split}")
        return self


# The flags of `sqlnet train` that say what a run is (not how it is watched: --quiet,
# --snapshot, --threads), in the order a difference between two runs is looked for.
SOURCE_FLAGS = ("--data", "--table", "--query")


def arguments(source: Source, targets: list[str], features: list[str] | None,
              s: Settings) -> dict[str, str | bool]:
    """A run's defining flags as its command gave them: what `runs.arguments` keeps and a
    rerun with --resume is compared with. A flag left out is absent; a switch is True.

    >>> arguments(Source("d.csv"), ["y"], None, Settings(lr=0.05, epochs=3))
    {'source': '--data d.csv', '--target': 'y', '--epochs': '3', '--activation': 'relu', '--lr': '0.05'}
    """
    flag, where = next((f, v) for f, v in zip(SOURCE_FLAGS, (source.path, source.table,
                                                            source.query)) if v is not None)
    given: dict[str, object] = {
        "source": f"{flag} {where}", "--long": source.long, "--target": targets,
        "--features": features, "--group-by": s.group_by, "--hidden": s.hidden,
        "--epochs": s.epochs, "--activation": s.activation,
        "--output-activation": s.output_activation, "--loss": s.loss, "--lr": s.lr,
        "--batch-size": s.batch_size, "--seed": s.seed, "--no-shuffle": s.shuffle is False,
        **{"--" + k.replace("_", "-"): v for k, v in s.controls.items()},
        "--keep-history": s.keep_history}
    if s.validation is not None:
        v = s.validation
        given.update({"--validation-data": v.source and v.source.path,
                      "--validation-split": v.split})
    return {k: _text(v) for k, v in given.items() if v not in (None, False, [], "")}


def _text(value) -> str | bool:
    if value is True:
        return True
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, (int, float)):  # 1 and 1.0 alike, as the command line reads them
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def difference(stored: dict, given: dict) -> str | None:
    """The first flag in which two runs' arguments differ, in a sentence (None: they agree).

    >>> difference({"--lr": "0.05"}, {"--lr": "0.1"})
    'the stored run has --lr 0.05, not 0.1'
    """
    for flag in [*given, *(k for k in stored if k not in given)]:
        old, new = stored.get(flag), given.get(flag)
        if old == new:
            continue
        if flag == "source":
            return f"the stored run reads {_one_line(old)}, not {_one_line(new)}"
        if old is not None and new is not None and old is not True:
            return f"the stored run has {flag} {old}, not {new}"
        if old is None:
            return f"the stored run has no {flag}; this command gives {_shown(flag, new)}"
        return f"the stored run has {_shown(flag, old)}; this command does not"
    return None


def _shown(flag: str, value) -> str:
    return flag if value is True else f"{flag} {value}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
