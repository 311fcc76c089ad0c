"""Groups on chunks: stored at ingest, changed without re-embedding, filtering both candidate lists
before fusion, and files that left a folder leaving the index."""

from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from retrieval import groups
from retrieval.candidates import gather
from retrieval.index import GROUPED
from retrieval.ingest import ingest, ingest_documents
from retrieval.keyword import tokenize
from retrieval.memory import FeedbackMemory
from retrieval.ranking import FusionRanker, LearnedRanker
from retrieval.retriever import HybridRetriever
from retrieval.sentences import load
from tests.retrieval.test_index import CountingEmbeddings

EVERYONE = ("everyone",)


def add(index, *paths: Path, groups=EVERYONE):
    return ingest(index, list(paths), chunk_size=2000, chunk_overlap=50, max_bytes=10**6, groups=groups)


def titles(retriever: HybridRetriever, question: str, **kwargs) -> list[str]:
    return [d.metadata["title"] for d in retriever.documents(question, **kwargs)]


def test_group_names_are_parsed_sorted_and_checked() -> None:
    assert groups.parse("hr, finance,hr") == ("finance", "hr")
    assert groups.parse(["everyone"]) == ("everyone",)
    with pytest.raises(groups.InvalidGroups, match="'HR' is not a group name"):
        groups.parse("HR")
    with pytest.raises(groups.InvalidGroups, match="'a b' is not a group name"):
        groups.parse(["a b"])
    with pytest.raises(groups.InvalidGroups, match="at least one group"):
        groups.parse(" , ")
    with pytest.raises(groups.InvalidGroups):
        groups.parse("x" * 51)
    assert groups.member(["hr"]) == ("everyone", "hr")
    assert groups.of({}) == ("everyone",)
    assert groups.visible({"groups": ["hr"]}, ["everyone", "hr"]) and not groups.visible({"groups": ["hr"]}, ["everyone"])
    assert groups.visible({"groups": ["hr"]}, None)
    assert groups.chroma_where(None) is None
    assert groups.chroma_where(["hr", "everyone"]) == {
        "$or": [{"groups": {"$contains": "everyone"}}, {"groups": {"$contains": "hr"}}]
    }


@pytest.fixture
def split_corpus(corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The shared corpus for everyone, and an HR folder with a salary note."""
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "salaries.md").write_text(
        "# Salaries\n\nThe volcano team lead earns 91,000 euros a year; magma bonuses are paid in March.\n"
    )
    return corpus, hr


def test_an_asker_never_gets_a_chunk_outside_their_groups(open_index, split_corpus) -> None:
    corpus, hr = split_corpus
    index = open_index()
    add(index, corpus)
    report = add(index, hr, groups=("hr",))
    salaries = str((hr / "salaries.md").resolve())
    assert report.outcomes == {salaries: "added"}
    assert {tuple(c.metadata["groups"]) for c in index.all_chunks() if c.metadata["source"] == salaries} == {("hr",)}

    for ranker in (FusionRanker(), FusionRanker(dense_weight=1.0), FusionRanker(dense_weight=0.0)):
        retriever = HybridRetriever(index=index, k=5, ranker=ranker)
        assert "Salaries" in titles(retriever, "volcano magma salary bonus", groups=["everyone", "hr"])
        assert "Salaries" in titles(retriever, "volcano magma salary bonus")  # no groups: every document
        outsider = retriever.hits("volcano magma salary bonus", groups=groups.member([]))
        assert outsider and all(hit.doc_id != salaries for hit in outsider)


def test_the_keyword_list_still_holds_n_allowed_candidates_when_most_matches_are_hidden(open_index, tmp_path: Path) -> None:
    hidden, shared = tmp_path / "hidden", tmp_path / "shared"
    hidden.mkdir(), shared.mkdir()
    for i in range(6):
        (hidden / f"h{i}.txt").write_text(f"Zeolite zeolite zeolite filters number {i} hold water.\n")
    for i in range(3):
        (shared / f"s{i}.txt").write_text(f"A note {i} that mentions zeolite once among many other words about gardens.\n")
    for i in range(4):
        (shared / f"g{i}.txt").write_text(f"Garden {i}: water the roses at dawn and mulch the beds.\n")
    index = open_index()
    add(index, hidden, groups=("lab",))
    add(index, shared)
    terms = tokenize(["zeolite"])[0]
    found = gather(index, index.keyword(), "zeolite", index.embeddings.encode_questions(["zeolite"])[0], terms, 3,
                   groups=EVERYONE)
    by_keyword = sorted((rank, Path(doc).name) for rank, doc in zip(found.keyword_rank, found.doc_ids) if rank <= 3)
    assert sorted(name for _, name in by_keyword) == ["s0.txt", "s1.txt", "s2.txt"]
    assert not any(Path(doc).name.startswith("h") for doc in found.doc_ids)


def test_reingesting_with_other_groups_moves_no_vector_and_unchanged_groups_change_nothing(
    open_index, split_corpus, embeddings
) -> None:
    corpus, hr = split_corpus
    add(open_index(), corpus)
    add(open_index(), hr, groups=("hr",))
    counting = CountingEmbeddings(embeddings)
    index = open_index()
    index.embeddings = counting
    before = index.revision()
    same = add(index, hr, groups=("hr",))
    assert set(same.outcomes.values()) == {"unchanged"} and same.regrouped == ()
    assert index.revision() == before

    salaries = str((hr / "salaries.md").resolve())
    moved = add(index, hr, groups=("finance", "hr"))
    assert moved.outcomes == {salaries: "changed"} and moved.regrouped == (salaries,)
    assert (moved.changes.added, moved.changes.replaced) == (0, 0)
    assert counting.embedded == 0
    assert index.revision() != before
    retriever = HybridRetriever(index=index, k=5)
    assert "Salaries" in titles(retriever, "magma bonuses", groups=["everyone", "finance"])
    assert "Salaries" not in titles(retriever, "magma bonuses", groups=["everyone", "sales"])


def test_set_groups_and_remove_source_act_on_one_source(open_index, split_corpus) -> None:
    corpus, hr = split_corpus
    index = open_index()
    add(index, corpus)
    tea = str((corpus / "tea.txt").resolve())
    retriever = HybridRetriever(index=index, k=5)
    assert index.set_groups(tea, ["kitchen"]) == 1
    assert index.set_groups(tea, ["kitchen"]) == 0
    assert "tea" not in titles(retriever, "green tea steeping", groups=EVERYONE)
    assert "tea" in titles(retriever, "green tea steeping", groups=["everyone", "kitchen"])

    before = index.revision()
    tea_ids = [c.id for c in index.all_chunks() if c.metadata["source"] == tea]
    assert index.remove_source(tea) == 1
    assert index.revision() != before
    assert tea not in index.sources()
    assert not set(tea_ids) & set(index.keyword().ids)
    assert not set(tea_ids) & set(load(index.sentences.path).passages)
    assert "tea" not in titles(retriever, "green tea steeping")
    again = add(index, corpus)
    assert again.outcomes[tea] == "added"


def test_a_file_gone_from_a_folder_leaves_the_index_on_the_next_ingest(open_index, split_corpus) -> None:
    corpus, _ = split_corpus
    index = open_index()
    add(index, corpus)
    (corpus / "tea.txt").unlink()
    (corpus / "parts.csv").write_bytes(b"\x00binary now")  # still there, unreadable: kept
    report = add(index, corpus)
    tea = str((corpus / "tea.txt").resolve())
    assert report.outcomes[tea] == "removed" and report.removed == 1
    assert report.outcomes[str((corpus / "volcanoes.md").resolve())] == "unchanged"
    assert [f.path for f in report.failures] == [str(corpus / "parts.csv")]
    assert tea not in index.sources() and str((corpus / "parts.csv").resolve()) in index.sources()
    assert all(c.metadata["source"] != tea for c in index.all_chunks())


def test_records_from_elsewhere_are_scoped_and_removed_when_gone(open_index) -> None:
    index = open_index()

    def row(n: int, text: str) -> Document:
        return Document(text, metadata={"source": f"sql:crm:{n}", "title": f"Customer {n}", "doc_id": f"sql:crm:{n}"})

    first = ingest_documents(index, [row(1, "Acme buys anvils."), row(2, "Globex buys widgets.")],
                             chunk_size=2000, chunk_overlap=0, groups=["sales"], scope="sql:crm:")
    assert first.outcomes == {"sql:crm:1": "added", "sql:crm:2": "added"}
    second = ingest_documents(index, [row(1, "Acme buys anvils and rockets.")],
                              chunk_size=2000, chunk_overlap=0, groups=["sales"], scope="sql:crm:")
    assert second.outcomes == {"sql:crm:1": "changed", "sql:crm:2": "removed"} and second.removed == 1
    assert index.sources(prefix="sql:") == ["sql:crm:1"]
    assert {tuple(c.metadata["groups"]) for c in index.all_chunks()} == {("sales",)}


def test_chunks_stored_before_groups_count_as_everyone(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    collection = index.client.get_collection("docs")
    found = collection.get(include=["metadatas"])
    collection.update(ids=found["ids"], metadatas=[{**m, "groups": None} for m in found["metadatas"]])
    collection.modify(metadata={k: v for k, v in (collection.metadata or {}).items() if k != GROUPED})
    assert all("groups" not in m for m in collection.get(include=["metadatas"])["metadatas"])

    reopened = open_index()
    assert all(c.metadata["groups"] == ["everyone"] for c in reopened.all_chunks())
    assert "Rivers" in titles(HybridRetriever(index=reopened, k=3), "Nile flows north", groups=EVERYONE)


def test_the_memory_never_brings_in_a_document_the_asker_may_not_see(open_index, split_corpus) -> None:
    corpus, hr = split_corpus
    index = open_index()
    add(index, corpus)
    add(index, hr, groups=("hr",))
    salaries = str((hr / "salaries.md").resolve())
    question = "what should I drink in the morning"
    past = index.embeddings.encode_questions([question])
    learned = LearnedRanker("v1", memory=FeedbackMemory(past, [[salaries]], [[]]), threshold=0.8, strength=1.0)
    retriever = HybridRetriever(index=index, k=5, ranker=learned)
    assert retriever.rank_documents(question, 1, groups=["everyone", "hr"])[0][0] == salaries
    assert salaries not in [doc for doc, _ in retriever.rank_documents(question, 100, groups=EVERYONE)]
    assert np.isfinite([hit.score for hit in retriever.hits(question, groups=EVERYONE)]).all()


@pytest.mark.parametrize("share", ["most", "few", "few, by their groups"])
def test_each_way_of_asking_chroma_finds_the_nearest_allowed_chunks(open_index, tmp_path: Path, share, monkeypatch) -> None:
    from retrieval import candidates

    folder = tmp_path / "many"
    folder.mkdir()
    topics = ["volcanoes erupt", "tea is steeped", "rivers flow north", "bearings for conveyor belts", "glaciers carve valleys",
              "bread rises with yeast", "tides follow the moon", "copper conducts heat"]
    for i in range(24):
        (folder / f"n{i:02d}.txt").write_text(f"Note {i}: {topics[i % len(topics)]}, and more on {topics[(i * 3) % len(topics)]}.\n")
    index = open_index()
    add(index, folder)
    hidden = 4 if share == "most" else 20
    for i in range(hidden):
        index.set_groups(str((folder / f"n{i:02d}.txt").resolve()), ["lab"])
    if share == "few, by their groups":
        monkeypatch.setattr(candidates, "LISTED_UP_TO", 0)
    keyword = index.keyword()
    allowed = keyword.allowed(EVERYONE)
    vector = index.embeddings.encode_questions(["what do glaciers do to valleys"])[0]
    ids, scores = candidates.visible_dense(index, keyword, vector, 3, allowed, EVERYONE)

    rows = np.flatnonzero(allowed)
    cosine = index.vectors([keyword.ids[r] for r in rows]) @ vector
    expected = [keyword.ids[rows[i]] for i in np.argsort(-cosine)[:3]]
    assert ids == expected
    assert np.allclose(scores, np.sort(cosine)[::-1][:3], atol=1e-4)


def test_groups_work_against_a_chroma_server(open_index, split_corpus, chroma_server: str, monkeypatch) -> None:
    from retrieval import candidates

    corpus, hr = split_corpus
    index = open_index("server-groups", chroma_url=chroma_server)
    add(index, corpus)
    add(index, hr, groups=("hr",))
    retriever = HybridRetriever(index=index, k=5)
    for listed_up_to in (candidates.LISTED_UP_TO, 0):  # among ids, then by groups
        monkeypatch.setattr(candidates, "LISTED_UP_TO", listed_up_to)
        monkeypatch.setattr(candidates, "OVERFETCH_FROM", 1.1)
        assert "Salaries" not in titles(retriever, "volcano magma salary bonus", groups=EVERYONE)
        assert "Salaries" in titles(retriever, "volcano magma salary bonus", groups=["everyone", "hr"])
    salaries = str((hr / "salaries.md").resolve())
    assert index.remove_source(salaries) == 1 and salaries not in index.sources()
