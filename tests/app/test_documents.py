"""The document service (app/documents.py): records of another system go in and leave as files do, each
change leaves one event naming the document by its id, and a change that changes nothing leaves none."""

import pytest
from langchain_core.documents import Document
from sqlmodel import select

from app import documents
from app.runtime import Root
from feedback import membership
from feedback.models import Event
from feedback.writing import NotFound


@pytest.fixture
def root(settings, embeddings):
    root = Root(settings)
    yield root
    root.close()


def row(number: int, text: str) -> Document:
    return Document(text, metadata={"source": f"sql:tickets:{number}", "doc_id": f"ticket-{number}",
                                    "title": f"Ticket {number}"})


def document_events(root: Root) -> list[tuple[str, str, dict]]:
    with root.database.read() as session:
        rows = session.exec(select(Event).where(Event.subject_type == "documents").order_by(Event.id)).all()
    return [(e.action, e.subject_id, e.data) for e in rows]


def test_records_are_documents_that_come_change_and_leave_with_their_scope(root) -> None:
    first = [row(1, "The printer on floor two jams when duplex printing."), row(2, "VPN drops every hour.")]
    report = documents.ingest_records(root, first, scope="sql:tickets:", groups=["everyone"])
    assert report.outcomes == {"sql:tickets:1": "added", "sql:tickets:2": "added"}
    listed = {d.source: d for d in documents.catalog(root)}
    assert (listed["sql:tickets:1"].doc_id, listed["sql:tickets:1"].path, listed["sql:tickets:1"].title) == (
        "ticket-1", "sql:tickets:1", "Ticket 1")

    report = documents.ingest_records(root, [row(1, "The printer on floor two jams in duplex mode.")],
                                      scope="sql:tickets:", groups=["everyone"], actor_id="sync")
    assert report.outcomes == {"sql:tickets:1": "changed", "sql:tickets:2": "removed"}
    assert [d.source for d in documents.catalog(root)] == ["sql:tickets:1"]
    assert [(action, subject) for action, subject, _ in document_events(root)] == [
        ("document_added", "ticket-1"), ("document_added", "ticket-2"),
        ("document_changed", "ticket-1"), ("document_removed", "sql:tickets:2")]
    changed = document_events(root)[2][2]
    assert changed == {"doc_id": "ticket-1", "path": "sql:tickets:1", "groups": ["everyone"], "chunks": 1}


def test_giving_a_document_the_groups_it_has_changes_nothing(root, corpus) -> None:
    membership.add_group(root.database, name="hr")
    documents.ingest_paths(root, [corpus / "tea.txt"])
    tea = documents.get(root, str(corpus / "tea.txt"))
    assert documents.set_groups(root, tea.doc_id, ["everyone"], actor_id=None) == tea
    assert documents.set_groups(root, tea.doc_id, ["hr"], actor_id=None).groups == ("hr",)
    assert documents.get(root, tea.doc_id).groups == ("hr",)
    assert [action for action, _, _ in document_events(root)] == ["document_added", "document_groups_changed"]


def test_a_long_document_id_is_named_by_its_hash_where_the_column_is_short(root, tmp_path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5)
    deep.mkdir(parents=True)
    (deep / "notes.md").write_text("# Notes\n\nThe boiler is bled every October.\n")
    documents.ingest_paths(root, [deep])
    ((action, subject, data),) = document_events(root)
    doc_id = str((deep / "notes.md").resolve())
    assert len(doc_id) > 100 and data["doc_id"] == doc_id and data["path"] == "notes.md"
    assert subject == documents.subject_of(doc_id) and subject.startswith("sha256:") and len(subject) <= 100


def test_an_unknown_document_is_not_found(root) -> None:
    for name in ("", "/no/such/file.md", "sql:nothing:1"):
        with pytest.raises(NotFound, match="No such document."):
            documents.delete(root, name, actor_id=None)
