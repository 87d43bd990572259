"""Model names, which are also the names of their schemas: checked here, without sqlglot,
so that a command that only reads (``sqlnet sql``) can find a model's schema quickly.

>>> model_name("churn"), schema_identifier("churn")
('churn', '"churn"')
"""
from __future__ import annotations

import re

from .errors import SqlnetError

DEFAULT_MODEL = "sqlnet"  # the model (and schema) a command uses without --model
SYSTEM_SCHEMAS = {"main", "public", "temp", "system", "information_schema", "default"}
_MODEL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def model_name(name: str) -> str:
    """A model's name, checked, so that it reads the same unquoted from any client (lower
    case; PostgreSQL folds unquoted names to it)."""
    if not _MODEL_NAME.fullmatch(name) or name in SYSTEM_SCHEMAS or name.startswith("pg_"):
        raise SqlnetError(f"{name!r} is not a valid model name: use lower-case letters, digits "
                          "and _ (at most 63, not starting with a digit), and not the name of "
                          "a system schema")
    return name


def schema_identifier(name: str) -> str:
    """A schema's name as a quoted identifier (DuckDB's and PostgreSQL's double quotes)."""
    return '"' + name.replace('"', '""') + '"'
