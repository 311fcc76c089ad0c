"""Where limits are counted: in each process's memory by default, or in Redis, which every worker
shares, when ``rate_limit_storage`` names one (a real redis-server the test starts)."""

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from app.limits import LimitExceeded, RateLimits
from app.settings import Settings
from tests.conftest import free_port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: make test installs Debian's redis-server.", pytrace=False)
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def two_workers(**settings) -> tuple[RateLimits, RateLimits]:
    """The limits as two server processes build them from the same settings."""
    settings = Settings(api_key_requests_per_minute=3, **settings)
    return RateLimits(settings), RateLimits(settings)


def test_with_redis_the_workers_share_one_count(redis_url):
    first, second = two_workers(rate_limit_storage=redis_url)
    first.api_request(key_id="k1", user_id="u1")
    second.api_request(key_id="k1", user_id="u1")
    first.api_request(key_id="k1", user_id="u1")

    with pytest.raises(LimitExceeded) as refused:
        second.api_request(key_id="k1", user_id="u1")
    assert 1 <= refused.value.retry_after <= 60
    second.api_request(key_id="k2", user_id="u2")  # another key's count is its own


def test_in_memory_each_worker_counts_on_its_own():
    first, second = two_workers()
    for _ in range(3):
        first.api_request(key_id="k1", user_id="u1")
    with pytest.raises(LimitExceeded):
        first.api_request(key_id="k1", user_id="u1")
    second.api_request(key_id="k1", user_id="u1")
