"""Strict validation of the identifiers we splice into SQL text.

Values always travel as bound `?` parameters, but object names (database, schema, warehouse,
sequence) cannot be bound, so they are checked against a narrow pattern instead of quoted:
anything that passes is a plain unquoted Snowflake identifier and cannot inject SQL.
"""
from __future__ import annotations

import re

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
ALLOWED = ("a letter or underscore, then up to 254 letters, digits, underscores or dollar "
           "signs (pattern ^[A-Za-z_][A-Za-z0-9_$]{0,254}$)")


def validate_identifier(value: object, setting: str) -> str:
    """Return `value` upper-cased (as Snowflake resolves unquoted names) or raise ValueError
    naming the setting and what is allowed."""
    if not isinstance(value, str) or not IDENT_RE.match(value):
        raise ValueError(f"invalid {setting}: {value!r}; allowed: {ALLOWED}")
    return value.upper()


def qualified(*parts: tuple[str, str]) -> str:
    """Join validated (value, setting) pairs with dots: qualified((db, "database"), ...)."""
    return ".".join(validate_identifier(v, s) for v, s in parts)
