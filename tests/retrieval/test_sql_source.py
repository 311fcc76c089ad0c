"""An SQL query's rows as documents, on a real SQLite file and a real PostgreSQL database."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from retrieval.sql_source import SourceError, SqlQuery, check, check_select, masked, read
from retrieval.validation import validate

ROWS = [
    (1, "Refunds", "Refunds are paid within five days.", "Ask the desk.", datetime(2025, 1, 1, 9, tzinfo=UTC)),
    (2, "VPN", "Reinstall the VPN client when it cannot connect.", None, datetime(2025, 1, 2, 9, tzinfo=UTC)),
    (3, None, "Passwords expire every ninety days.", "", datetime(2025, 1, 3, 9, tzinfo=UTC)),
]


@pytest.fixture(params=["sqlite", "postgres"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database holding a ``kb`` table of three articles; its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kb.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database("kb")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE kb (id INTEGER PRIMARY KEY, title TEXT, body TEXT, notes TEXT, "
                                   "updated_at TIMESTAMP WITH TIME ZONE, picture BYTEA)"
                                   if request.param == "postgres" else
                                   "CREATE TABLE kb (id INTEGER PRIMARY KEY, title TEXT, body TEXT, notes TEXT, "
                                   "updated_at TEXT, picture BLOB)"))
        for row in ROWS:
            write(connection, *row)
    engine.dispose()
    yield url
    if request.param == "postgres":
        server.drop_database(url)


def write(connection, id, title, body, notes, updated_at, picture=None) -> None:
    value = updated_at if connection.dialect.name == "postgresql" else updated_at.isoformat()
    connection.execute(sa.text("INSERT INTO kb VALUES (:id, :title, :body, :notes, :updated_at, :picture)"),
                       dict(id=id, title=title, body=body, notes=notes, updated_at=value, picture=picture))


def execute(url: str, statement: str, **parameters) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(statement), parameters)
    engine.dispose()


def spec(url: str, **changes) -> SqlQuery:
    fields = dict(name="kb", url=url, query="SELECT * FROM kb ORDER BY id", id_column="id",
                  text_columns=("body", "notes"), title_column="title", updated_column="updated_at")
    return SqlQuery(**{**fields, **changes})


def test_one_document_per_row_with_its_title_and_text(kb: str) -> None:
    rows = read(check(spec(kb)))
    assert rows.failures == []
    assert [(d.metadata["source"], d.metadata["title"], d.page_content) for d in rows.documents] == [
        ("sql:kb:1", "Refunds", "Refunds are paid within five days.\n\nAsk the desk."),
        ("sql:kb:2", "VPN", "Reinstall the VPN client when it cannot connect."),
        ("sql:kb:3", "kb 3", "Passwords expire every ninety days."),
    ]
    assert all(d.metadata["doc_id"] == d.metadata["source"] for d in rows.documents)


def test_from_a_mark_only_rows_updated_since_are_read(kb: str) -> None:
    query = check(spec(kb))
    first = read(query)
    assert first.mark is not None
    execute(kb, "UPDATE kb SET body = 'Refunds are paid within ten days.', updated_at = :at WHERE id = 1",
            at=_stamp(kb, datetime(2025, 2, 1, tzinfo=UTC)))
    second = read(query, since=first.mark)
    assert [d.metadata["source"] for d in second.documents] == ["sql:kb:1", "sql:kb:3"], "the row at the mark is read again"
    third = read(query, since=second.mark)
    assert [d.metadata["source"] for d in third.documents] == ["sql:kb:1"]
    assert read(query, since=third.mark).mark == third.mark


def test_every_missing_column_is_named(kb: str) -> None:
    with pytest.raises(SourceError) as caught:
        check(spec(kb, text_columns=("body", "summary"), title_column="heading"))
    assert str(caught.value) == ("The query has no column 'summary', 'heading'; its columns are: "
                                 "id, title, body, notes, updated_at, picture.")


def test_columns_are_found_as_the_database_spells_them(kb: str) -> None:
    checked = check(spec(kb, id_column="ID", text_columns=("Body",), title_column="Title"))
    assert (checked.id_column, checked.text_columns, checked.title_column) == ("id", ("body",), "title")


@pytest.mark.parametrize("query, message", [
    ("DELETE FROM kb", "Only a SELECT query can be a source; this one begins with DELETE."),
    ("SELECT * FROM kb; DROP TABLE kb", "The query holds more than one statement: give a single SELECT."),
    ("WITH gone AS (DELETE FROM kb RETURNING *) SELECT * FROM gone",
     "Only a SELECT query can be a source; this one has DELETE in it."),
    ("SELECT * INTO kb_copy FROM kb", "Only a SELECT query can be a source; this one has INTO in it."),
    ("SELECT * FROM kb FOR UPDATE", "Only a SELECT query can be a source; this one has UPDATE in it."),
    ("  -- nothing\n", "The query is empty: give a SELECT."),
])
def test_only_a_select_is_run(kb: str, query: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        check(spec(kb, query=query))
    assert str(caught.value) == message
    assert read(check(spec(kb))).documents, "the table is still there"


def test_words_in_strings_and_comments_are_not_statements() -> None:
    query = "SELECT id, 'delete me; insert' AS note, body AS \"update\" FROM kb -- drop\n;"
    assert check_select(query) == query.rstrip(";\n").rstrip()


def test_a_query_that_fails_says_so_in_the_databases_words(kb: str) -> None:
    with pytest.raises(SourceError, match=r"^The query failed: .*(no such table|does not exist)"):
        check(spec(kb, query="SELECT * FROM tickets"))


def test_bad_urls_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="^The SQL URL cannot be read: use dialect"):
        check(spec("not a url"))
    with pytest.raises(SourceError, match="^No database driver for 'nosuchdb' is installed."):
        check(spec("nosuchdb://kb@localhost/kb"))
    with pytest.raises(SourceError, match=f"^No SQLite database at {tmp_path / 'missing.db'}"):
        check(spec(f"sqlite:///{tmp_path / 'missing.db'}"))
    assert not (tmp_path / "missing.db").exists()


def test_the_password_never_shows() -> None:
    url = "postgresql+psycopg://kb:s3cret-pw@127.0.0.1:1/kb"  # nothing listens on port 1
    with pytest.raises(SourceError) as caught:
        check(spec(url))
    assert str(caught.value).startswith("Cannot connect to postgresql+psycopg://kb:***@127.0.0.1:1/kb: ")
    assert "s3cret" not in str(caught.value)
    assert masked(url) == "postgresql+psycopg://kb:***@127.0.0.1:1/kb"


def test_rows_without_an_id_or_with_one_twice_are_reported(kb: str) -> None:
    rows = read(check(spec(kb, query="SELECT * FROM kb UNION ALL SELECT NULL, 'x', 'y', 'z', NULL, NULL "
                                     "UNION ALL SELECT * FROM kb WHERE id = 2")))
    assert [d.metadata["source"] for d in rows.documents] == ["sql:kb:1", "sql:kb:2", "sql:kb:3"]
    assert sorted((f.path, f.reason) for f in rows.failures) == [
        ("sql:kb:2", "the id is on more than one row: the first is kept"), ("sql:kb:?", "a row with no id")]


def test_a_binary_column_is_kept_out_by_validation(kb: str) -> None:
    engine = sa.create_engine(kb)
    with engine.begin() as connection:
        write(connection, 4, "Logo", None, None, datetime(2025, 1, 4, tzinfo=UTC), picture=bytes(range(256)) * 4)
    engine.dispose()
    rows = read(check(spec(kb, text_columns=("body", "picture"))))
    checked = validate(rows.documents)
    assert [(f.path, f.reason) for f in checked.failures] == [("sql:kb:4", "binary content, not text")]


def _stamp(url: str, at: datetime):
    return at if url.startswith("postgresql") else at.isoformat()


def test_the_query_runs_read_only(kb: str) -> None:
    """A SELECT that would write (a function with a side effect) is stopped by the database itself."""
    if not kb.startswith("postgresql"):
        pytest.skip("SQLite's SELECT cannot write")
    execute(kb, "CREATE SEQUENCE hits")
    with pytest.raises(SourceError, match="read-only transaction"):
        read(check(spec(kb, query="SELECT id, body, nextval('hits') AS n FROM kb", text_columns=("body",),
                        title_column=None, updated_column=None)))


def test_a_sqlite_file_gone_is_an_error_not_a_new_empty_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    execute(url, "CREATE TABLE kb (id INTEGER PRIMARY KEY, body TEXT)")
    query = check(spec(url, text_columns=("body",), title_column=None, updated_column=None))
    (tmp_path / "kb.db").unlink()
    with pytest.raises(SourceError, match=f"^No SQLite database at {tmp_path / 'kb.db'}.$"):
        read(query)
    assert not (tmp_path / "kb.db").exists()
