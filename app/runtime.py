"""What a running server shares: its settings, and what is built from them once: the index, the
chain that answers from it, the feedback database and the rate limits."""

from functools import cache

from app import components
from app.chain import Chain
from app.limits import RateLimits
from app.settings import Settings
from feedback.db import Database
from retrieval.index import HybridIndex

_settings = Settings()


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings
    for built in (index, chain, database, limits):
        built.cache_clear()


def settings() -> Settings:
    return _settings


@cache
def index() -> HybridIndex:
    """The index the chain answers from; readiness checks this one, not a copy. Opened on its own
    (not through the chain), so Chroma's state is known while the database is down."""
    return components.open_index(_settings)


@cache
def chain() -> Chain:
    return components.chain(_settings, index())


@cache
def database() -> Database:
    return components.database(_settings)


@cache
def limits() -> RateLimits:
    return RateLimits(_settings)
