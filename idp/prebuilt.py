"""Lookups on the request path of every token, by a prebuilt statement instead of the ORM's compiler.

Building a SELECT through Django's query compiler costs about as much CPU as the rest of a token request
put together (docs/performance.md): a client is thirty columns, a token read with its client and its
person over sixty. The statements the hot paths send depend only on the models, so they are built once
per database connection from the models' metadata and executed directly. Rows still become model
instances through `Model.from_db`, with the same converters the ORM applies, and related rows are
cached on the instance as `select_related` would cache them. Everything else goes through the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model


@dataclass(frozen=True)
class _Part:
    """One model's share of the row: its columns, field names, converters, and where it hangs."""

    model: type[Model]
    start: int
    names: list[str]
    converters: list[tuple[int, Any, list]]
    via: Any  # the foreign key on the main model that this related row fills (None for the main model)


def _columns(model: type[Model], alias: str, defer: frozenset[str], connection) -> tuple[list[str], list[str], list]:
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if f.attname not in defer]
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(alias)
        functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if functions:
            converters.append((position, column, functions))
    return [f"{quote(alias)}.{quote(f.column)}" for f in fields], [f.attname for f in fields], converters


def _build(model: type[Model], column: str, related: tuple[str, ...], defer: frozenset[str], connection):
    quote = connection.ops.quote_name
    table = model._meta.db_table
    selected, names, converters = _columns(model, table, defer, connection)
    parts = [_Part(model, 0, names, converters, None)]
    joins = []
    for name in related:
        foreign_key = model._meta.get_field(name)
        target = foreign_key.related_model
        alias = f"r_{name}"
        columns, names, converters = _columns(target, alias, defer, connection)
        parts.append(_Part(target, len(selected), names, converters, foreign_key))
        selected += columns
        joins.append(
            f"LEFT OUTER JOIN {quote(target._meta.db_table)} {quote(alias)} "
            f"ON {quote(alias)}.{quote(target._meta.pk.column)} = {quote(table)}.{quote(foreign_key.column)}"
        )
    where = f"{quote(table)}.{quote(model._meta.get_field(column).column)} = %s"
    return f"SELECT {', '.join(selected)} FROM {quote(table)} {' '.join(joins)} WHERE {where}", parts


def select_one(model: type[Model], column: str, value: Any, *, related: Iterable[str] = (),
               defer: Iterable[str] = (), using: str = "default") -> Model | None:
    """The row of `model` whose unique `column` equals `value`, with its `related` foreign keys filled
    (as select_related does), or None. `defer`: columns (of any of the models) left unread."""
    related, defer = tuple(related), frozenset(defer)
    connection = connections[using]
    statements = connection.__dict__.setdefault("_gatehouse_prebuilt", {})
    key = (model, column, related, defer)
    if key not in statements:
        statements[key] = _build(model, column, related, defer, connection)
    sql, parts = statements[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    instances = []
    for part in parts:
        own = values[part.start : part.start + len(part.names)]
        for position, column_, functions in part.converters:
            for convert in functions:
                own[position] = convert(own[position], column_, connection)
        # A LEFT JOIN that found nothing: a null foreign key.
        instance = None if part.via is not None and own[0] is None else part.model.from_db(using, part.names, own)
        instances.append(instance)
        if part.via is not None:
            part.via.set_cached_value(instances[0], instance)
    return instances[0]
