"""The composition root: one ``Root`` per process owns what is built from the settings — the one
feedback database, the embedding model, the index, the chain, the active ranker source, the
verified answers, the rate limits — and hands them to whoever needs them.

The server builds it in ``create_app`` and installs it here, so that Chainlit's handlers (which
Chainlit loads as a module of its own) find the same one; each CLI command builds its own. Every
part is built on first use and then kept, so a command that needs only the database never
imports torch or Chroma. Nothing else keeps a copy: the module functions below only read the root.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from app.chain import Chain
    from app.limits import RateLimits
    from feedback.db import Database
    from feedback.registry import ActiveRanker
    from feedback.verified import VerifiedAnswers
    from retrieval.embeddings import MiniLMEmbeddings
    from retrieval.index import HybridIndex
    from retrieval.ranking import Ranker
    from retrieval.retriever import HybridRetriever


class Root:
    """Built once per process; each part on first use, then shared by every thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _once(self, name: str, build) -> Any:
        """The part called ``name``, built the first time it is asked for. A build that fails (the
        database is down) is not kept: the next caller tries again."""
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._parts[name] = build()
        return part

    @property
    def database(self) -> Database:
        """The one feedback database of this process, migrated to the newest schema when first opened."""
        from sqlalchemy.exc import SQLAlchemyError

        from app import components
        from feedback.db import DatabaseUnavailable

        def opened() -> Database:
            try:
                return components.database(self.settings)
            except SQLAlchemyError as error:
                raise DatabaseUnavailable("The feedback database cannot be reached right now; nothing was saved.") from error

        return self._once("database", opened)

    @property
    def embeddings(self) -> MiniLMEmbeddings:
        from app import components

        return self._once("embeddings", lambda: components.embeddings(self.settings))

    @property
    def index(self) -> HybridIndex:
        """The index the chain answers from; readiness checks this one, not a copy. Opening it needs
        no database, so Chroma's state is known while the database is down."""
        from app import components

        return self._once("index", lambda: components.open_index(self.settings, embeddings=self.embeddings))

    @property
    def rankers(self) -> ActiveRanker:
        """Says which ranker serves now (re-read only when another version was activated)."""
        from app import components

        return self._once("rankers", lambda: components.active_ranker(self.settings, self.database))

    @property
    def verified(self) -> VerifiedAnswers:
        from feedback.verified import VerifiedAnswers

        return self._once("verified", lambda: VerifiedAnswers(
            self.database, self.embeddings, threshold=self.settings.verified_similarity))

    @property
    def chain(self) -> Chain:
        from app import components

        return self._once("chain", lambda: components.chain(
            self.settings, self.index, rankers=self.rankers, verified=self.verified))

    @property
    def limits(self) -> RateLimits:
        from app.limits import RateLimits

        return self._once("limits", lambda: RateLimits(self.settings))

    def ranker(self, choice: str = "active") -> Ranker:
        """``fusion``, ``active`` (what serves now) or a version from ``groundloop rankers list``."""
        from app import components
        from feedback.registry import named_ranker

        if choice == "active":
            return self.rankers()
        if choice == "fusion":
            return components.fusion(self.settings)
        return named_ranker(self.database, choice)

    def retriever(self, *, k: int | None = None, collection: str | None = None) -> HybridRetriever:
        """A retriever over the served index (or another collection), ranking with the fusion ranker;
        pass a ranker per question to rank with another."""
        from app import components

        return components.retriever(self.settings, self.index_of(collection), k=k)

    def index_of(self, collection: str | None) -> HybridIndex:
        """The served index for its collection (or None); another collection opened over the same model."""
        from app import components

        if collection in (None, self.settings.collection):
            return self.index
        return components.open_index(self.settings, collection, embeddings=self.embeddings)

    def auth_secret(self) -> str:
        """What Chainlit signs sign-in tokens with (see ``components.auth_secret``)."""
        from app import components

        return self._once("auth_secret", lambda: components.auth_secret(self.settings))

    def close(self) -> None:
        """Let go of the database's connections (the process is ending)."""
        database = self._parts.pop("database", None)
        if database is not None:
            database.dispose()


_root: Root | None = None


def install(root: Root) -> Root:
    """Make ``root`` the process's root (the server does this once, in ``create_app``)."""
    global _root
    _root = root
    return root


def root() -> Root:
    """The installed root; before any was installed, one from the environment's settings."""
    global _root
    if _root is None:
        _root = Root(Settings())
    return _root


def configure(settings: Settings) -> Root:
    """Install a new root for ``settings`` (tests that build the API's routes without a server)."""
    return install(Root(settings))


# What handlers read, each a view of the one root.
def settings() -> Settings:
    return root().settings


def database() -> Database:
    return root().database


def index() -> HybridIndex:
    return root().index


def chain() -> Chain:
    return root().chain


def limits() -> RateLimits:
    return root().limits
