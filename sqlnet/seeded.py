"""Seeded pseudo-random numbers in SQL: the `mix` hash of sql/random.sql, chained.

Integer arithmetic only, so every engine gives the same bits (no engine's random()).
tests/reference.py re-implements the same hash in Python to check it.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from .queries import DIALECT, statements

P = 2147483647  # 2³¹ − 1, the modulus of `mix`


def mix(x: exp.Expression) -> exp.Expression:
    """One round of `mix` applied to the integer expression x."""
    h = statements()["mix"].expressions[0]
    return exp.replace_placeholders((h.this if isinstance(h, exp.Alias) else h).copy(), x=exp.paren(x))


def chain(first: str, *then: str) -> exp.Expression:
    """mix(…mix(mix(first) + then[0]) + then[1]…): a hash of several integer columns."""
    h = mix(_sql(first))
    for term in then:
        h = mix(exp.Add(this=exp.paren(h), expression=_sql(term)))
    return h


def _sql(text: str) -> exp.Expression:
    return sqlglot.parse_one(text, dialect=DIALECT)
