"""What a running server shares: its settings, and the chain built from them once."""

from functools import cache

from app import components
from app.chain import Chain
from app.settings import Settings

_settings = Settings()


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings
    chain.cache_clear()


def settings() -> Settings:
    return _settings


@cache
def chain() -> Chain:
    return components.chain(_settings)
