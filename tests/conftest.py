import csv
from pathlib import Path

import numpy as np
import pytest

from sqlnet.db import Database


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in r])
    return path


def params_as_arrays(params):
    return [np.array(W, dtype=float) for W, _ in params], [np.array(b, dtype=float) for _, b in params]


@pytest.fixture
def db():
    d = Database(":memory:")
    yield d
    d.close()
