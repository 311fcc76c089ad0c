"""A data folder with public documents for everyone, HR documents for the group ``hr``, and people in or
out of it: what the permission tests, at the API and in the browser, both start from."""

from pathlib import Path

from app import components
from app.settings import Settings
from feedback import accounts, membership
from feedback.db import Database
from retrieval.ingest import ingest


def groups_world(root: Path, *, public: dict[str, str], hr: dict[str, str], people: list[tuple[str, str, str]],
                 password: str, embeddings) -> tuple[Settings, Database]:
    """Write and ingest the files (``hr`` ones for group hr only) and add ``people`` as (name, role, groups);
    returns the settings and the open database (the caller disposes of it)."""
    for folder, files in ((root / "public", public), (root / "hr", hr)):
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    settings = Settings(data_dir=root / "data", chroma_url=None)
    index = components.open_index(settings, embeddings=embeddings)
    ingest(index, [root / "public"], chunk_size=2000, chunk_overlap=200, max_bytes=10**6)
    ingest(index, [root / "hr"], chunk_size=2000, chunk_overlap=200, max_bytes=10**6, groups=["hr"])
    db = components.database(settings)
    membership.add_group(db, name="hr")
    for name, role, groups in people:
        accounts.add_user(db, identifier=name, role=role, password=password)
        membership.set_user_groups(db, identifier=name, names=groups)
    return settings, db
