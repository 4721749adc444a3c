"""Reading and writing rows past the ORM's query and unit-of-work layers: the message hot path.

Every customer message is its own transaction, and on SQLite the ORM's bookkeeping costs
several times the statement it sends: a single-row UPDATE takes 190 µs through a flush and
55 µs as one Core statement; building a SQLModel row runs 35 µs of pydantic and SQLAlchemy
attribute events before its INSERT; an ORM SELECT of one contact takes 430 µs, the same
Core SELECT 240 and the same statement on the driver's cursor 100 (a message's statements
after a quiet moment, on this kind of machine). These functions send the same statements,
on the driver's cursor (`OnCursor`), and leave the session as the ORM would (the object
persistent, clean, in the identity map), so code after them cannot tell the difference.
Use them where a path is measured hot; elsewhere `session.exec`, `session.add` and the flush
are simpler and just as right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import Column, Dialect, Insert, Select, Table, Update, bindparam, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import set_attribute
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
def _column_keys(model: type[SQLModel]) -> tuple[str, ...]:
    return tuple(c.key for c in columns_of(model))


@cache
def _columns(model: type[SQLModel]) -> frozenset[str]:
    return frozenset(_column_keys(model))


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
    # For a positional driver (SQLite's "?"): what picks the values from the parameters in
    # the statement's order; None for a named one.
    in_order: Callable[[dict[str, Any]], tuple[Any, ...]] | None
    names: tuple[str, ...]  # every parameter's name
    # The values the statement carries itself (a literal in a WHERE), taken once at compile
    # time: a bind whose value is a callable would be called once, not per run.
    fixed: dict[str, Any]
    binds: dict[str, Any]  # name: the parameter's type's converter
    # (column index, its type's converter) for each returned column that has one; known once
    # the first cursor describes its columns (some drivers' converters depend on the type
    # code). One list in `results` once known.
    results: list[list[tuple[int, Callable[[Any], Any]]]] = field(default_factory=list)


def _in_order(positions: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The parameters' values in the positional driver's order, in one C call (a generator
    over a message's sixteen INSERT values took 1.1 µs; this 0.3)."""
    if len(positions) == 1:  # itemgetter of one name gives the value, not a 1-tuple
        (name,) = positions
        return lambda values: (values[name],)
    return itemgetter(*positions)


class OnCursor:
    """A Core statement run on the driver's own cursor: compiled once per dialect, its
    parameters and returned values converted by the columns' own types, as SQLAlchemy's
    execute would. Less than half the cost of a Core `execute` (one of a message's statements
    after a quiet moment: 100 µs instead of 240), at the price of SQLAlchemy's cursor events,
    which nothing on the message path uses."""

    def __init__(
        self, statement: Select[Any] | Insert | Update, returns: Sequence[Column[Any]] = ()
    ) -> None:
        self.statement = statement
        self.returns = list(returns)  # the columns a returned row holds, in order
        self._by_dialect: dict[str, _Compiled] = {}

    def first(self, session: Session, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run it; the first row it returns (converted), or None."""
        row, _ = self._run(session, params, fetch=True)
        return row

    def run(self, session: Session, params: dict[str, Any]) -> None:
        """Run a statement that returns nothing (an UPDATE)."""
        self._run(session, params, fetch=False)

    def last_id(self, session: Session, params: dict[str, Any]) -> Any:
        """Run an INSERT; the id the database gave the row."""
        row, last_id = self._run(session, params, fetch=bool(self.returns))
        return row[0] if row is not None else last_id

    def _run(
        self, session: Session, params: dict[str, Any], *, fetch: bool
    ) -> tuple[tuple[Any, ...] | None, Any]:
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = self._compile(dialect)
        values = {**compiled.fixed, **params} if compiled.fixed else dict(params)
        for name, process in compiled.binds.items():
            values[name] = process(values[name])
        if compiled.in_order is not None:
            sent: Any = compiled.in_order(values)
        else:
            sent = {name: values[name] for name in compiled.names}
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        driver_error = dialect.loaded_dbapi.Error
        try:
            try:
                cursor.execute(compiled.sql, sent)
            except driver_error as error:
                # As SQLAlchemy would raise it: callers catch IntegrityError and the like.
                raise DBAPIError.instance(
                    compiled.sql, sent, error, driver_error, dialect=dialect
                ) from error
            if not fetch:
                return None, getattr(cursor, "lastrowid", None)
            row = cursor.fetchone()
            if not compiled.results:
                # One slice assignment: two threads doing this at once leave one whole list.
                compiled.results[:] = [self._converters(dialect, cursor.description)]
        finally:
            cursor.close()
        if row is None:
            return None, None
        converted = list(row)
        for index, process in compiled.results[0]:
            value = converted[index]
            if value is not None:
                converted[index] = process(value)
        return tuple(converted), None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        binds: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds[name] = process
            if not bind.required:
                fixed[name] = bind.effective_value
        found = getattr(compiled, "positiontup", None)
        positions = tuple(found) if found else None
        return _Compiled(
            sql=compiled.string,
            in_order=_in_order(positions) if positions else None,
            names=tuple(compiled.binds),
            fixed=fixed,
            binds=binds,
        )

    def _converters(
        self, dialect: Dialect, description: Sequence[Sequence[Any]]
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        converters = [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(self.returns, description, strict=True)
        ]
        return [(index, process) for index, process in enumerate(converters) if process]


def lookup(statement: Select[Any]) -> OnCursor:
    """A SELECT to run with `first`."""
    return OnCursor(statement, returns=list(statement.selected_columns))  # type: ignore[arg-type]


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
    known = _in_identity_map(session, model, mapping["id"])
    if known is not None:
        return known
    return _attach(session, model, mapping)


def _in_identity_map(session: Session, model: type[Row], row_id: Any) -> Row | None:
    """The `model` row with this key if the session holds it; no SQL either way."""
    mapper = model.__mapper__  # type: ignore[attr-defined]
    return session.identity_map.get(mapper.identity_key_from_primary_key([row_id]))


def assign(row: SQLModel, **values: Any) -> None:
    """`row.name = value` for each, through SQLAlchemy's instrumentation only (the change is
    recorded, so `write_changes` and a flush see it), not also through pydantic's
    `__setattr__`, which SQLModel runs after it to store the same value again: 1.2 µs an
    assignment against 4.2, and a customer message makes ten."""
    for name, value in values.items():
        set_attribute(row, name, value)


def held(session: Session, model: type[Row], row_id: int | None) -> Row | None:
    """`session.get(model, row_id)` in a fifth of its time when the session holds the row (a
    hash lookup in the identity map: 0.7 µs against 4); the database is asked otherwise."""
    if row_id is None:
        return None
    found = _in_identity_map(session, model, row_id)
    if found is not None:
        return found
    return session.get(model, row_id)


def adopt(session: Session, row: Row) -> Row:
    """`row`, a clean row of another session (or of none), as a row of `session`, without SQL:
    what `session.merge(row, load=False)` gives (Handoff's models have no relationships for a
    merge to cascade along), in half the time or less (21 µs a row against 44-59). A row the
    session holds is returned as it is there."""
    state = inspect(row)
    values = row.__dict__
    keys = _column_keys(type(row))
    if state.key is None or state.modified or any(key not in values for key in keys):
        return session.merge(row, load=False)  # which explains what it cannot take
    adopted = load_row(session, type(row), [values[key] for key in keys])
    assert adopted is not None
    return adopted


def _attach(session: Session, model: type[Row], values: dict[str, Any]) -> Row:
    # Built and registered the way the ORM's loader does it for a row it reads
    # (sqlalchemy/orm/loading.py): no constructor, no attribute events, no cascade walk; the
    # values were given whole, and they are what the database holds. `make_transient_to_detached`
    # and `session.add` would do the same in eight times the time (48 µs a row against 6, and
    # a message attaches four or five rows).
    mapper = model.__mapper__  # type: ignore[attr-defined]
    row: Row = mapper.class_manager.new_instance()
    row.__dict__.update(values)
    state = inspect(row)
    state.key = mapper.identity_key_from_primary_key([values["id"]])
    state.session_id = session.hash_key
    session.identity_map.add(state)  # raises if the session holds another row with that key
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
    returning = bool(session.connection().dialect.insert_returning)
    row_id = _insert(model, returning=returning).last_id(session, values)
    assert row_id is not None
    return _attach(session, model, {**values, "id": row_id})


@cache
def _insert(model: type[SQLModel], *, returning: bool) -> OnCursor:
    """The model's INSERT of every column but the key, which the database gives: read back
    with RETURNING where the database has it, else from the cursor (SQLite before 3.35)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    statement = table.insert().values(
        {c.key: bindparam(c.key) for c in table.columns if not c.primary_key}
    )
    if not returning:
        return OnCursor(statement)
    return OnCursor(statement.returning(table.c.id), returns=[table.c.id])


@cache
def _update(model: type[SQLModel], keys: frozenset[str]) -> OnCursor:
    """The model's UPDATE of these columns, by key; one per set of columns a path changes."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return OnCursor(
        table.update()
        .where(table.c.id == bindparam("row_id"))
        .values({key: bindparam(key) for key in sorted(keys)})
    )


def write_changes(session: Session, row: SQLModel) -> None:
    """UPDATE the columns changed on `row` since it was loaded, now, and mark it saved."""
    state = inspect(row)
    assert state.persistent, "write_changes is for a row already in the database"
    modified = set(state.manager).difference(state.unmodified)
    changed = {key: state.dict[key] for key in modified.intersection(_columns(type(row)))}
    if not changed:
        return
    assert state.identity is not None
    _update(type(row), frozenset(changed)).run(session, {**changed, "row_id": state.identity[0]})
    if len(changed) < len(modified):
        return  # something else changed too (a relationship): the next flush sees to it
    # What a flush does once its statements ran (SQLAlchemy has no public name for it):
    # the values are the committed ones, and the row leaves the session's dirty set, so the
    # commit's flush has nothing to walk.
    state._commit_all(state.dict, session.identity_map)
