"""The rows of an SQL query as documents, through SQLAlchemy (PostgreSQL, SQLite, or any database with a
driver): one document per row, its ``source`` (and ``doc_id``) ``sql:NAME:ID``, its title from the title
column, its text from the text columns, normalised as the loaders normalise files.

Only a SELECT is run, in a read-only transaction where the database has one. With an updated column, a
read can start from a mark (the highest value seen before); rows at the mark are read again, so a row
written in the same instant as the last one read is not missed (unchanged, it is skipped when indexed).
Messages name the database with its password masked.
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from retrieval.errors import GroundloopError
from retrieval.loaders import Failure
from retrieval.text import normalize

CONNECT_SECONDS = 10
URL_FORM = "dialect+driver://user@host/database, e.g. postgresql+psycopg://kb@db.example/kb or sqlite:///kb.db"
_SKIPPED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|--[^\n]*|/\*.*?\*/", re.DOTALL)
"""String literals, quoted names and comments: where a word is not a keyword."""
_WRITES = ("insert", "update", "delete", "merge", "drop", "alter", "create", "truncate", "grant", "revoke", "into",
           "attach", "detach", "pragma", "vacuum")
"""Keywords that make a statement write (reserved words, so not a column's name unquoted)."""


class SourceError(GroundloopError):
    """A source that cannot be read as configured; the message says why, with no password in it."""


@dataclass(frozen=True)
class SqlQuery:
    """What to read: ``text_columns`` joined make a row's text; ``title_column`` its title (else NAME ID)."""

    name: str
    url: str
    query: str
    id_column: str
    text_columns: tuple[str, ...]
    title_column: str | None = None
    updated_column: str | None = None

    @property
    def prefix(self) -> str:
        return prefix(self.name)


@dataclass
class Rows:
    documents: list[Document] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    mark: dict | None = None
    """The highest updated value read (``mark_of``), or the one read from when no row had a higher one."""


def prefix(name: str) -> str:
    """Every row's source starts with this: the scope of the rows a full read replaces."""
    return f"sql:{name}:"


def masked(url: str) -> str:
    """The URL as it may be shown: its password as ***; a URL that cannot be read, not at all."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an SQL URL that cannot be read)"


def check_select(query: str) -> str:
    """The query without a trailing semicolon, if it is one SELECT (or WITH … SELECT); else why not."""
    query = query.strip().rstrip(";").rstrip()
    bare = _SKIPPED.sub(" ", query).lower()
    words = re.findall(r"[a-z_]+", bare)
    if not words:
        raise SourceError("The query is empty: give a SELECT.")
    if ";" in bare:
        raise SourceError("The query holds more than one statement: give a single SELECT.")
    if words[0] not in ("select", "with"):
        raise SourceError(f"Only a SELECT query can be a source; this one begins with {words[0].upper()}.")
    writes = [word for word in _WRITES if word in words]
    if writes:
        raise SourceError(f"Only a SELECT query can be a source; this one has {writes[0].upper()} in it.")
    return query


def check(spec: SqlQuery) -> SqlQuery:
    """The query as it will run: a SELECT, reachable, with every column named (as the database spells it:
    ``Title`` may come back ``title``). Runs it for no rows; raises SourceError saying what is wrong."""
    spec = replace(spec, url=resolved_url(spec.url), query=check_select(spec.query))
    with _connection(spec.url) as (_, connection):
        statement = text(f"SELECT * FROM ({_escaped(spec.query)}) AS groundloop_rows WHERE 1 = 0")
        keys = list(_execute(connection, statement, {}).keys())
    return _with_columns(spec, keys)


def read(spec: SqlQuery, *, since: dict | None = None) -> Rows:
    """Every row of the query, or (with an updated column and a mark) those updated at or after the mark."""
    rows, seen = Rows(mark=since), set()
    with _connection(spec.url) as (engine, connection):
        statement, parameters = text(_escaped(check_select(spec.query))), {}
        if since is not None and spec.updated_column:
            column = engine.dialect.identifier_preparer.quote(spec.updated_column)
            statement = text(f"SELECT * FROM ({_escaped(spec.query)}) AS groundloop_rows WHERE {column} >= :since")
            parameters = {"since": value_of(since)}
        result = _execute(connection, statement, parameters)
        spec = _with_columns(spec, list(result.keys()))
        highest = value_of(since) if since is not None else None
        for row in _rows(result):
            document = _document(spec, row)
            if isinstance(document, Failure):
                rows.failures.append(document)
                continue
            if document.metadata["source"] in seen:
                rows.failures.append(Failure(document.metadata["source"], "the id is on more than one row: the first is kept"))
                continue
            seen.add(document.metadata["source"])
            rows.documents.append(document)
            updated = row[spec.updated_column] if spec.updated_column else None
            if updated is not None and (highest is None or _later(updated, highest)):
                highest = updated
        rows.mark = mark_of(highest) if highest is not None else None
    return rows


def resolved_url(url: str) -> str:
    """The URL, checked; a relative SQLite file made absolute (a sync may run from another folder) and
    required to exist (SQLite would make an empty one)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SourceError(f"The SQL URL cannot be read: use {URL_FORM}.") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
            raise SourceError(f"An SQLite source must name its file: sqlite:///path/to/file.db, not {masked(url)}.")
        path = Path(parsed.database).expanduser().resolve()
        if not path.is_file():
            raise SourceError(f"No SQLite database at {path}.")
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def mark_of(value: Any) -> dict:
    """An updated value as JSON, keeping its type so the next read compares like with like."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool | int | float):
        return {"type": type(value).__name__, "value": value}
    return {"type": "str", "value": str(value)}


def value_of(mark: dict) -> Any:
    kind, value = mark["type"], mark["value"]
    return {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "decimal": Decimal}.get(kind, lambda v: v)(value)


def _later(value: Any, than: Any) -> bool:
    try:
        return value > than
    except TypeError:  # values of another type than the mark's (a column that changed type): compare as text
        return str(value) > str(than)


def _document(spec: SqlQuery, row: Mapping[str, Any]) -> Document | Failure:
    key = row[spec.id_column]
    if key is None or not str(key).strip():
        return Failure(f"{spec.prefix}?", f"a row with no {spec.id_column}")
    source = f"{spec.prefix}{_plain(key).strip()}"
    body = normalize("\n\n".join(_plain(row[c]) for c in spec.text_columns if row[c] is not None))
    title = normalize(_plain(row[spec.title_column])) if spec.title_column and row[spec.title_column] is not None else ""
    title = (title or f"{spec.name} {_plain(key).strip()}")[:300]
    return Document(body, metadata={"source": source, "doc_id": source, "title": title, "path": source, "position": 0})


def _plain(value: Any) -> str:
    """A column's value as text; bytes read as UTF-8, what is not shows as replacement characters."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _with_columns(spec: SqlQuery, keys: list[str]) -> SqlQuery:
    """The spec with each column as the result spells it; every missing one named."""
    named = [spec.id_column, *spec.text_columns, *(c for c in (spec.title_column, spec.updated_column) if c)]
    found = {name: _column(name, keys) for name in named}
    missing = [name for name, key in found.items() if key is None]
    if missing:
        listed = ", ".join(f"'{name}'" for name in missing)
        raise SourceError(f"The query has no column {listed}; its columns are: {', '.join(keys) or 'none'}.")
    return replace(spec, id_column=found[spec.id_column], text_columns=tuple(found[c] for c in spec.text_columns),
                   title_column=found.get(spec.title_column), updated_column=found.get(spec.updated_column))


def _column(name: str, keys: list[str]) -> str | None:
    if name in keys:
        return name
    alike = [key for key in keys if key.lower() == name.lower()]
    return alike[0] if len(alike) == 1 else None


def _escaped(query: str) -> str:
    """The query for ``text()``: its colons are the query's own (casts, strings), not parameters."""
    return query.replace(":", r"\:")


def _rows(result) -> Iterator[Mapping[str, Any]]:
    try:
        for row in result.mappings():
            yield row
    except DBAPIError as error:
        raise SourceError(f"The query failed while reading its rows: {_reason(error)}") from None


@contextmanager
def _connection(url: str) -> Iterator[tuple[Engine, Connection]]:
    """A connection of its own (no pool kept between syncs), read-only where the database allows. An SQLite
    file that is gone is an error, not a new empty database."""
    engine = _engine(resolved_url(url))
    try:
        try:
            connection = engine.connect()
        except DBAPIError as error:
            raise SourceError(f"Cannot connect to {masked(url)}: {_reason(error, url)}") from None
        except SQLAlchemyError as error:
            raise SourceError(f"Cannot connect to {masked(url)}: {type(error).__name__}") from None
        with connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield engine, connection
    finally:
        engine.dispose()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SourceError(f"The SQL URL cannot be read: use {URL_FORM}.") from None
    connect_args = {"connect_timeout": CONNECT_SECONDS} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except NoSuchModuleError:
        raise SourceError(f"No database driver for '{parsed.drivername}' is installed.") from None
    except (ArgumentError, ImportError) as error:
        raise SourceError(f"Cannot use {masked(url)}: {str(error).splitlines()[0][:200]}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_only)
    return engine


def _sqlite_read_only(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


def _execute(connection: Connection, statement, parameters: dict):
    try:
        return connection.execution_options(stream_results=True).execute(statement, parameters)
    except DBAPIError as error:
        raise SourceError(f"The query failed: {_reason(error, connection.engine.url)}") from None


def _reason(error: DBAPIError, url: str | URL | None = None) -> str:
    """The database's own words, first line, with the password (if any) masked."""
    reason = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0][:300]
    password = make_url(url).password if isinstance(url, str) else (url.password if url is not None else None)
    return reason.replace(password, "***") if password else reason
