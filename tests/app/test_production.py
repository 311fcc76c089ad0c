"""With GROUNDLOOP_ENV=production, `groundloop serve` refuses an unsafe start in one line, exit code 1."""

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from app.settings import Settings
from retrieval.errors import GroundloopError

GROUNDLOOP = str(Path(sys.executable).parent / "groundloop")
GOOD_SECRET = "a-long-random-secret-" + "k" * 30


def serve(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDLOOP_")}
    env.update({f"GROUNDLOOP_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run([GROUNDLOOP, "--data-dir", str(tmp_path / "data"), "serve", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_every_unsafe_part_is_named_in_one_line_and_nothing_starts(tmp_path):
    refused = serve(tmp_path, "--host", "0.0.0.0", "--port", "1", env="production", cors_origins="*")

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: Refusing to start in production: GROUNDLOOP_AUTH_SECRET is not set; "
        "GROUNDLOOP_CORS_ORIGINS allows any origin (*); "
        "--host 0.0.0.0 is not a loopback address: add --public to serve other machines.")
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert not (tmp_path / "data" / "auth_secret").exists()  # refused before a secret was made


def test_a_well_known_secret_is_refused(tmp_path):
    refused = serve(tmp_path, env="production", auth_secret="changeme")

    assert refused.returncode == 1
    assert refused.stderr.strip() == ("error: Refusing to start in production: "
                                      "GROUNDLOOP_AUTH_SECRET is a well-known default.")


def test_an_unknown_environment_is_one_line(tmp_path):
    refused = serve(tmp_path, env="prod")

    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: GROUNDLOOP_ENV: Input should be 'development' or 'production'."


@pytest.mark.parametrize(("secret", "problem"), [
    (None, "GROUNDLOOP_AUTH_SECRET is not set"),
    ("", "GROUNDLOOP_AUTH_SECRET is not set"),
    ("Secret", "GROUNDLOOP_AUTH_SECRET is a well-known default"),
    ("short-but-not-default", "GROUNDLOOP_AUTH_SECRET is shorter than 32 characters"),
])
def test_a_missing_default_or_short_secret_is_refused(secret, problem):
    settings = Settings(env="production", auth_secret=secret)
    with pytest.raises(GroundloopError) as refused:
        settings.refuse_unsafe_start(host="127.0.0.1")
    assert str(refused.value) == f"Refusing to start in production: {problem}."


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_confirmation(host):
    Settings(env="production", auth_secret=GOOD_SECRET).refuse_unsafe_start(host=host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_a_public_bind_needs_public(host):
    settings = Settings(env="production", auth_secret=GOOD_SECRET, cors_origins=["https://intranet.example"])
    with pytest.raises(GroundloopError, match=f"--host {host} is not a loopback address"):
        settings.refuse_unsafe_start(host=host)
    settings.refuse_unsafe_start(host=host, public=True)


def test_development_starts_whatever_the_secret_and_bind():
    Settings(env="development", cors_origins=["*"]).refuse_unsafe_start(host="0.0.0.0")


def test_lists_come_comma_separated_or_as_json(monkeypatch):
    monkeypatch.setenv("GROUNDLOOP_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("GROUNDLOOP_WEBHOOK_URLS", '["http://127.0.0.1:9/x"]')
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.webhook_urls == ["http://127.0.0.1:9/x"]


def test_a_safe_production_server_starts_and_allows_only_its_origins(tmp_path):
    """Started for real: the configured origin may call the server from a page, another may not."""
    from tests.e2e.conftest import Server

    server = Server("production", tmp_path / "data", tmp_path, env="production", auth_secret=GOOD_SECRET,
                    cors_origins="https://intranet.example")
    try:
        server.wait_ready()

        def allowed_origin(origin: str, path: str = "/healthz") -> str | None:
            request = urllib.request.Request(server.url + path, headers={"origin": origin})
            with urllib.request.urlopen(request) as response:
                return response.headers.get("access-control-allow-origin")

        assert allowed_origin("https://intranet.example") == "https://intranet.example"
        assert allowed_origin("https://elsewhere.example") is None
        assert allowed_origin("https://elsewhere.example", "/chat/") is None  # Chainlit's own CORS too
    finally:
        server.stop()
