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
