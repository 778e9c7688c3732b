"""The canonical texts, as PostgreSQL computes them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from syncbeat.connectors.canonical.families import const


def text(family: str, column: sa.ColumnElement[Any], rounding: int | None, keep_minus: bool,
        own: TypeEngine[Any]) -> sa.ColumnElement[Any]:  # fmt: skip
    text = sa.Text()
    if family == "integer" and isinstance(own, sa.Integer):  # prints as it is: no scale
        return sa.cast(column, text)
    if family in ("integer", "decimal"):
        value = sa.func.round(column, rounding) if rounding is not None else column
        return sa.cast(sa.func.trim_scale(sa.cast(value, sa.Numeric())), text)
    if family in ("float", "float4"):
        # float8out/float4out print the shortest round-trip digits (extra_float_digits
        # 1, the default); as a numeric they lose their exponent (1e+20), not a digit.
        printed = sa.cast(column, text)
        plain = sa.cast(sa.func.trim_scale(sa.cast(printed, sa.Numeric())), text)
        return sa.case((printed == "-0", printed), else_=plain) if keep_minus else plain
    if family == "boolean":
        return sa.cast(sa.cast(column, sa.Integer()), text)
    if family == "binary":
        return sa.func.encode(column, "hex")
    if family == "date":
        return sa.func.to_char(column, "YYYY-MM-DD")
    if family == "time":
        return sa.func.to_char(column, "HH24:MI:SS.US")
    if family == "timestamp":
        zoned = isinstance(own, sa.DateTime) and own.timezone
        value = sa.func.timezone("UTC", column) if zoned else column
        return sa.func.to_char(value, "YYYY-MM-DD HH24:MI:SS.US")
    if family == "array":
        return _pg_array(column)
    if family == "uuid":
        return sa.func.lower(sa.cast(column, text))
    return sa.cast(column, text)  # text, varchar, enum labels, json and jsonb as printed


def _pg_array(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An array as the JSON text syncbeat writes for it (conversions._json): elements
    joined by ", " (to_json would join them by ","), NULL as null, text JSON-escaped."""
    elements = (
        sa.func.unnest(column).table_valued("v", with_ordinality="n").render_derived(name="e")
    )
    element = sa.func.coalesce(sa.cast(sa.func.to_json(elements.c.v), sa.Text()), "null")
    joined = sa.func.string_agg(element, postgresql.aggregate_order_by(const(", "), elements.c.n))
    inner = sa.select(sa.func.coalesce(joined, "")).select_from(elements).scalar_subquery()
    return sa.case((column.is_(None), None), else_="[" + inner + "]")
