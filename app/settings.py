"""The one place configuration is read: ``GROUNDLOOP_*`` variables and ``.env``."""

import ipaddress
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from feedback.names import ACCOUNT_SHARE, FEEDBACK_ACTIONS, UNSURE_SHARE
from retrieval.errors import GroundloopError

MIN_SECRET_CHARS = 32
KNOWN_DEFAULT_SECRETS = {"changeme", "change-me", "changethis", "secret", "default", "groundloop", "password",
                         "test", "dev", "development"}
Urls = Annotated[list[str], NoDecode]
"""A comma-separated list (or a JSON list) in the environment."""


class Settings(BaseSettings):
    """Everything groundloop can be told; defaults run on one laptop with nothing to set up."""

    model_config = SettingsConfigDict(env_prefix="GROUNDLOOP_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start with a default secret, CORS *, or a public bind without --public.",
    )
    cors_origins: Urls = Field(default=[], description="Origins other sites' pages may call us from; none when empty.")
    trusted_proxies: Urls = Field(
        default=[], description="Addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (comma-separated, '*' for any); none when empty, so a client cannot choose its own address.",
    )
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the feedback database; SQLite in data_dir when unset."
    )
    auth_secret: SecretStr | None = Field(
        default=None, description="Signs sign-in tokens; generated into data_dir on first start when unset."
    )
    collection: str = "docs"
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL; a local folder under data_dir when unset."
    )

    chunk_size: int = Field(default=2000, ge=200, description="Characters per chunk.")
    chunk_overlap: int = Field(default=200, ge=0)
    max_file_mb: float = Field(default=50.0, gt=0, description="Larger files are skipped.")
    embedding_batch_size: int = Field(default=64, ge=1)
    embedding_int8: bool = Field(
        default=True, description="Dynamic int8 quantisation of the embedding model's linear layers."
    )

    dense_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    candidates: int = Field(default=100, ge=1, description="Top-N taken from each of dense and keyword.")
    top_k: int = Field(default=5, ge=1, description="Sources shown with an answer.")
    max_question_chars: int = Field(default=4000, ge=1)

    llm_base_url: str | None = Field(default=None, description="An OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1.")
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(default=30.0, gt=0, description="Seconds the model has for its whole answer (from the request) before answering offline.")

    answer_sentences: int = Field(default=3, ge=1, description="Sentences the offline answerer quotes.")
    answer_min_relevance: float = Field(
        default=0.3, description="Below this question–sentence similarity the offline answerer finds nothing."
    )
    answer_source_relevance: float = Field(
        default=0.5, description="The offline answerer also quotes once each other source whose best sentence is this close."
    )
    support_similarity: float = Field(default=0.6, description="A sentence this similar to a cited one is supported.")
    support_overlap: float = Field(default=0.6, description="Share of a sentence's words found in what it cites.")
    min_retrieval_similarity: float = Field(default=0.3, description="Below this, retrieval is not confident.")
    min_question_similarity: float = Field(
        default=0.3, description="An answer whose closest sentence is less similar to the question does not address it."
    )
    verified_similarity: float = Field(
        default=0.9, description="A question this similar to a reviewer-verified one gets the verified answer."
    )

    api_key_requests_per_minute: int = Field(default=60, ge=1, description="API requests one key may make in a minute.")
    api_user_requests_per_minute: int = Field(
        default=120, ge=1, description="API requests one person may make in a minute, over all their keys."
    )
    sign_in_failures_per_minute: int = Field(
        default=20, ge=1, description="Failed sign-ins from one client address in a minute; then 429 until it passes."
    )
    sign_in_failures_per_name: int = Field(
        default=5, ge=1, description="Failed sign-ins under one user name in a minute, from anywhere."
    )
    rate_limit_storage: str | None = Field(
        default=None,
        description="Where the limits are counted: a redis:// URI, shared by every worker and server. "
        "When unset, in each process's memory (with several workers, each counts on its own).",
    )

    retrain_after: int = Field(default=50, ge=1, description="retrain --watch: new feedback events that trigger a run.")
    retrain_poll_seconds: float = Field(default=30.0, gt=0, description="retrain --watch: how often to look.")
    learning_account_share: float = Field(
        default=ACCOUNT_SHARE, gt=0.0, le=1.0,
        description="The most one account's feedback may weigh in what a retrain learns and in the held-out "
        "judgement (never less than an equal share among the accounts that gave feedback).",
    )

    review_unsure_share: float = Field(
        default=UNSURE_SHARE, ge=0.0, le=1.0,
        description="The review queue also holds the answers whose best source matched among this share of the "
        "least well, whatever their thumbs (0: only flagged, rated-down, commented and corrected answers).",
    )

    webhook_urls: Urls = Field(default=[], description="Each feedback and review event is POSTed to each of these.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Signs each webhook body (HMAC-SHA256); needed with webhook_urls."
    )
    webhook_events: Urls = Field(
        default_factory=lambda: list(FEEDBACK_ACTIONS), description="Event actions sent to the webhooks."
    )
    webhook_timeout: float = Field(default=5.0, gt=0, description="Seconds a target has to answer one delivery.")
    webhook_max_attempts: int = Field(default=12, ge=1, description="Attempts before a delivery is given up as failed.")
    webhook_backoff_seconds: float = Field(default=5.0, gt=0, description="Wait before the first retry; then doubled.")
    webhook_max_backoff_seconds: float = Field(default=3600.0, gt=0, description="The longest wait between retries.")
    webhook_poll_seconds: float = Field(default=2.0, gt=0, description="How often the server looks for events to send.")

    events_redis_url: str | None = Field(
        default=None, description="A redis:// URL: every recorded event is also published to the Redis Stream "
        "groundloop:events there (ids, never text), at least once and in order.",
    )
    events_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the server looks for events to publish to the stream."
    )
    sync_interval: float = Field(
        default=300.0, ge=0, description="Seconds between syncs of each source (groundloop sources), by the server "
        "and by `groundloop sync --watch`; 0: the server does not sync.",
    )
    sync_retry_seconds: float = Field(
        default=30.0, gt=0, description="Wait before a source whose sync failed is tried again; doubled for each "
        "failure in a row.",
    )
    sync_max_backoff_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait before a failing source is tried again."
    )
    sync_lease_seconds: float = Field(
        default=300.0, gt=0, description="How long a sync's lock on its source lasts unless renewed (a running "
        "sync renews it): a sync whose process died lets go after this.",
    )

    metrics_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="Where several workers share request and latency metrics (prometheus_client's own variable, "
        "so it must be set for them before they start).",
    )

    @field_validator("cors_origins", "trusted_proxies", "webhook_urls", "webhook_events", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("events_redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://, e.g. redis://127.0.0.1:6379/0")
        return value or None

    def refuse_unsafe_start(self, *, host: str | None = None, public: bool = False) -> None:
        """Raises, in one line, what makes this start unsafe: webhooks that would go unsigned; and in
        production a missing, short or well-known auth secret, CORS for any origin, or a non-loopback
        ``host`` not confirmed with ``public``."""
        problems = []
        if self.webhook_urls and not self.webhook_secret:
            problems.append("GROUNDLOOP_WEBHOOK_URLS is set but GROUNDLOOP_WEBHOOK_SECRET is not")
        if self.env == "production":
            secret = self.auth_secret.get_secret_value() if self.auth_secret else ""
            if not secret:
                problems.append("GROUNDLOOP_AUTH_SECRET is not set")
            elif secret.lower() in KNOWN_DEFAULT_SECRETS:
                problems.append("GROUNDLOOP_AUTH_SECRET is a well-known default")
            elif len(secret) < MIN_SECRET_CHARS:
                problems.append(f"GROUNDLOOP_AUTH_SECRET is shorter than {MIN_SECRET_CHARS} characters")
            if "*" in self.cors_origins:
                problems.append("GROUNDLOOP_CORS_ORIGINS allows any origin (*)")
            if host is not None and not public and not _loopback(host):
                problems.append(f"--host {host} is not a loopback address: add --public to serve other machines")
        if problems:
            mode = "in production" if self.env == "production" else "as configured"
            raise GroundloopError(f"Refusing to start {mode}: {'; '.join(problems)}.")

    @cached_property
    def rankers_dir(self) -> Path:
        return self.data_dir / "rankers"

    @cached_property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @cached_property
    def uploads_dir(self) -> Path:
        """Files uploaded on the documents page or through the API, kept as the sources of their documents."""
        return self.data_dir / "uploads"

    @cached_property
    def keyword_dir(self) -> Path:
        return self.data_dir / "keyword"

    @cached_property
    def sentences_dir(self) -> Path:
        return self.data_dir / "sentences"

    @cached_property
    def feedback_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'groundloop.sqlite').resolve()}"

    @cached_property
    def records_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'records.sqlite').resolve()}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
