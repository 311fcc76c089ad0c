"""What a running server shares: its settings, and what is built from them once: the chain, the
feedback database and the rate limits."""

from functools import cache

from app import components
from app.chain import Chain
from app.limits import RateLimits
from app.settings import Settings
from feedback.db import Database

_settings = Settings()


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings
    for built in (chain, database, limits):
        built.cache_clear()


def settings() -> Settings:
    return _settings


@cache
def chain() -> Chain:
    return components.chain(_settings)


@cache
def database() -> Database:
    return components.database(_settings)


@cache
def limits() -> RateLimits:
    return RateLimits(_settings)
