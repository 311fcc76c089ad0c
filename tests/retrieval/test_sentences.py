"""Sentence vectors as derived data of the index: made at ingest, replaced and removed with their
chunks, rebuilt when their file is missing, and never made while a question waits."""

from pathlib import Path

import numpy as np

from retrieval.ingest import ingest
from retrieval.sentences import load, split_and_embed
from retrieval.text import instructions


def add(index, *paths: Path):
    return ingest(index, list(paths), chunk_size=2000, chunk_overlap=50, max_bytes=10**6)


def stored(index) -> dict:
    saved = load(index.sentences.path)
    assert saved is not None and saved.revision == index.revision()
    return saved.passages


def test_ingest_stores_the_sentences_of_every_chunk_with_the_vectors_made_on_the_fly(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    passages = stored(index)
    assert set(passages) == set(index.keyword().ids)
    for chunk in index.all_chunks():
        fresh = split_and_embed(chunk.text, index.sentences.encode)
        assert passages[chunk.id].sentences == fresh.sentences
        assert np.array_equal(passages[chunk.id].sentence_vectors, fresh.sentence_vectors)
    tea = next(p for p in passages.values() if any("Green tea" in s for s in p.sentences))
    assert tea.sentences == ["Green tea is steeped at about 80 degrees Celsius for two minutes.", "Boiling water makes it bitter."]
    assert np.allclose(np.linalg.norm(tea.sentence_vectors, axis=1), 1.0, atol=1e-3)


def test_reingesting_a_changed_file_replaces_its_sentence_vectors_and_drops_the_old_ones(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    before = stored(index)
    (corpus / "tea.txt").write_text("Black tea wants boiling water and four minutes of steeping.\n")
    add(index, corpus)
    after = stored(index)
    assert set(after) == set(index.keyword().ids)
    gone, new = set(before) - set(after), set(after) - set(before)
    assert len(gone) == 1 and len(new) == 1
    assert "Green tea" in " ".join(before[gone.pop()].sentences)
    assert after[new.pop()].sentences == ["Black tea wants boiling water and four minutes of steeping."]


def test_a_missing_vector_file_is_rebuilt(open_index, corpus: Path) -> None:
    index = open_index()
    add(index, corpus)
    before = stored(index)
    index.sentences.path.unlink()
    reopened = open_index()
    reopened.sync_sentences()  # as a server does when it starts
    after = stored(reopened)
    assert set(after) == set(before)
    for chunk_id, passage in before.items():
        assert np.array_equal(after[chunk_id].sentence_vectors, passage.sentence_vectors)


def test_another_process_ingesting_is_picked_up_from_its_file(open_index, corpus: Path, tmp_path: Path) -> None:
    reader = open_index()
    add(reader, corpus)
    reader.keyword()
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "glaciers.md").write_text("# Glaciers\n\nGlaciers carve U-shaped valleys as they retreat.\n")
    add(open_index(), extra)  # another process
    reader.keyword()
    made = []
    reader.sentences.encode = lambda texts: made.append(texts) or np.zeros((len(texts), 384), dtype=np.float32)
    chunk = next(c for c in reader.all_chunks() if "Glaciers carve" in c.text)
    [passage] = reader.passages([(chunk.id, chunk.text)])
    assert "Glaciers carve U-shaped valleys as they retreat." in passage.sentences and made == []


def test_a_code_block_of_commands_is_one_instruction_per_command() -> None:
    text = "Run these:\n\n```\ngroundloop users add ann --role reviewer\ngroundloop users list\n```\n\n" \
           "And this:\n\n```\ncurl -H 'A: b' \\\n     -d '{}' http://x/y\n```\n"
    assert instructions(text) == [
        "groundloop users add ann --role reviewer", "groundloop users list", "curl -H 'A: b' \\\n     -d '{}' http://x/y",
    ]
