from pathlib import Path

import pytest

from app import components
from app.settings import Settings
from retrieval.ingest import ingest


@pytest.fixture
def indexed(settings: Settings, corpus: Path, embeddings) -> Settings:
    """Settings whose collection holds the test corpus."""
    ingest(components.open_index(settings), [corpus], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    return settings
