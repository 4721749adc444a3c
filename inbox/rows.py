"""Reading and writing rows past the ORM's query and unit-of-work layers: the message hot path.

Every customer message is its own transaction, and on SQLite the ORM's bookkeeping costs
several times the statement it sends: a single-row UPDATE takes 190 µs through a flush and
55 µs as one Core statement; building a SQLModel row runs 35 µs of pydantic and SQLAlchemy
attribute events before its INSERT; an ORM SELECT of one contact takes 430 µs where the same
Core SELECT takes 240 (a message's first statements, after a quiet moment, on this kind of
machine). These functions send the same statements and leave the session as the ORM would
(the object persistent, clean, in the identity map), so code after them cannot tell the
difference. Use them where a path is measured hot; elsewhere `session.exec`, `session.add`
and the flush are simpler and just as right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import Column, Dialect, Select, Table, inspect, select
from sqlalchemy.engine import Compiled
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlmodel import Session, SQLModel

Row = TypeVar("Row", bound=SQLModel)


@cache
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Any], ...]:
    """(field, default, factory) for each column but the key, as the model declares them."""
    configure_mappers()  # a query would have; the first row may come before any query
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = {c.key for c in table.columns if not c.primary_key}
    return tuple(
        (name, field.default, field.default_factory)
        for name, field in model.model_fields.items()
        if name in columns
    )


@cache
def _columns(model: type[SQLModel]) -> frozenset[str]:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return frozenset(c.key for c in table.columns)


@cache
def _column_keys(model: type[SQLModel]) -> tuple[str, ...]:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return tuple(c.key for c in table.columns)


def columns_of(model: type[SQLModel]) -> list[Column[Any]]:
    """The model's columns in table order: what `load_row` reads a row from. Put them first in
    a Core SELECT, or one model's after another's (`load_row(..., start=)`)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return list(table.columns)


def select_columns(*models: type[SQLModel]) -> Select[Any]:
    """A Core SELECT of the models' columns, one model after the other."""
    return select(*(column for model in models for column in columns_of(model)))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiled: Compiled
    # Parameter names in order for a positional driver (SQLite's "?"), else None (named).
    positions: tuple[str, ...] | None
    binds: dict[str, Any]  # name: the parameter's type's converter
    # Per column, its type's converter for what the driver returns; known once the first
    # cursor describes its columns (some drivers' converters depend on the type code).
    results: list[Callable[[Any], Any] | None] = field(default_factory=list)


class Lookup:
    """A Core SELECT run on the driver's own cursor: compiled once per dialect, its parameters
    and values converted by the columns' own types, as SQLAlchemy's execute would. Less than
    half the cost of a Core `execute` (a message's lookups after a quiet moment: 100 µs
    instead of 240), at the price of SQLAlchemy's cursor events, which nothing here uses."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def first(self, session: Session, params: dict[str, Any]) -> tuple[Any, ...] | None:
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = self._compile(dialect)
        values = dict(compiled.compiled.construct_params(params) or {})
        for name, process in compiled.binds.items():
            values[name] = process(values[name])
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if compiled.positions is not None:
                cursor.execute(compiled.sql, tuple(values[name] for name in compiled.positions))
            else:
                cursor.execute(compiled.sql, values)
            row = cursor.fetchone()
            if not compiled.results:
                # One slice assignment: two threads doing this at once leave one whole list.
                compiled.results[:] = self._converters(dialect, cursor.description)
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            process(value) if process is not None and value is not None else value
            for process, value in zip(compiled.results, row, strict=True)
        )

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        binds: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[name] = process
        return _Compiled(
            sql=compiled.string,
            compiled=compiled,
            positions=tuple(compiled.positiontup) if compiled.positiontup else None,
            binds=binds,
        )

    def _converters(
        self, dialect: Dialect, description: Sequence[Sequence[Any]]
    ) -> list[Callable[[Any], Any] | None]:
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(self.statement.selected_columns, description, strict=True)
        ]


def load_row(
    session: Session, model: type[Row], values: Sequence[Any], *, start: int = 0
) -> Row | None:
    """The `model` row in `values[start:]` (a Core result row, columns as `columns_of`), attached
    to the session as a query would hand it over; None when its key is NULL (an outer join
    that found nothing). A row the session already holds is returned as it is there."""
    keys = _column_keys(model)
    mapping = dict(zip(keys, values[start : start + len(keys)], strict=True))
    if mapping["id"] is None:
        return None
    mapper = model.__mapper__  # type: ignore[attr-defined]
    held = session.identity_map.get(mapper.identity_key_from_primary_key([mapping["id"]]))
    if held is not None:
        return held  # type: ignore[no-any-return]
    return _attach(session, model, mapping)


def _attach(session: Session, model: type[Row], values: dict[str, Any]) -> Row:
    # Built the way the ORM builds a row it loads (no constructor, no attribute events): the
    # values were given whole, and they are what the database holds.
    row: Row = model.__mapper__.class_manager.new_instance()  # type: ignore[attr-defined]
    row.__dict__.update(values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def insert_row(session: Session, model: type[Row], **values: Any) -> Row:
    """INSERT a `model` row with `values` (the model's defaults for the rest) and return it
    attached to the session, as a flush would leave it. For models keyed by an `id` the
    database assigns, as all of Handoff's are."""
    for name, default, factory in _defaults(model):
        if name not in values:
            if factory is not None:
                values[name] = factory()
            elif default is PydanticUndefined:
                raise TypeError(f"{model.__name__}.{name} is required")
            else:
                values[name] = default
    table: Table = model.__table__  # type: ignore[attr-defined]
    key = session.connection().execute(table.insert(), values).inserted_primary_key
    assert key is not None
    return _attach(session, model, {**values, "id": key[0]})


def write_changes(session: Session, row: SQLModel) -> None:
    """UPDATE the columns changed on `row` since it was loaded, now, and mark it saved."""
    state = inspect(row)
    assert state.persistent, "write_changes is for a row already in the database"
    modified = set(state.manager).difference(state.unmodified)
    changed = {key: state.dict[key] for key in modified.intersection(_columns(type(row)))}
    if not changed:
        return
    table: Table = type(row).__table__  # type: ignore[attr-defined]
    where = [column == getattr(row, column.key) for column in table.primary_key]
    session.connection().execute(table.update().where(*where), changed)
    if len(changed) < len(modified):
        return  # something else changed too (a relationship): the next flush sees to it
    # What a flush does once its statements ran (SQLAlchemy has no public name for it):
    # the values are the committed ones, and the row leaves the session's dirty set, so the
    # commit's flush has nothing to walk.
    state._commit_all(state.dict, session.identity_map)
