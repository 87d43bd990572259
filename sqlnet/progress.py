"""Progress of a training run: a tqdm bar (with its ETA) on a terminal, lines elsewhere.

The bar needs the optional tqdm (``pip install 'sqlnet[progress]'``); ``SQLNET_PROGRESS=bar``
or ``=lines`` overrides the choice. Either way it shows the epoch, the epoch's mean loss and
samples per second, and `--quiet` turns it off.
"""
from __future__ import annotations

import os
import time
from typing import TextIO


def _want_bar(out: TextIO) -> bool:
    choice = os.environ.get("SQLNET_PROGRESS", "auto")
    if choice == "lines":
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return choice == "bar" or (hasattr(out, "isatty") and out.isatty())


class Progress:
    """Told of every step and every epoch's end; shows them, at most a line a second."""

    def __init__(self, out: TextIO, quiet: bool, first_epoch: int, last_epoch: int):
        self.out, self.quiet, self.last = out, quiet, last_epoch
        self.first, self.shown, self.start, self.bar = first_epoch, 0.0, time.perf_counter(), None
        self.use_bar = not quiet and _want_bar(out)

    def epoch_started(self, epoch: int, batches: int, done: int = 0) -> None:
        if self.use_bar and self.bar is None:
            from tqdm import tqdm
            total = (self.last - epoch + 1) * batches - done
            self.bar = tqdm(total=total, file=self.out, unit="step", dynamic_ncols=True,
                            desc=f"epoch {epoch}/{self.last}")

    def stepped(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def epoch_done(self, epoch: int, loss, samples: int, force: bool = False) -> None:
        """loss: a number, None, or a function that gives it (called only when shown)."""
        if self.quiet:
            return
        now = time.perf_counter()
        if not (force or now - self.shown > (0.2 if self.bar is not None else 1.0)):
            return
        loss = loss() if callable(loss) else loss
        rate = samples / max(now - self.start, 1e-9)
        text = "n/a" if loss is None else f"{loss:.6g}"
        if self.bar is not None:
            self.shown = now
            self.bar.set_description(f"epoch {epoch}/{self.last}")
            self.bar.set_postfix_str(f"loss {text}, {rate:,.0f} samples/s")
        elif now - self.shown > 1.0 or force:
            self.shown = now
            print(f"epoch {epoch}/{self.last}  loss {text}  {rate:,.0f} samples/s", file=self.out)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
