"""Bad input and the connection after it, on the real server (a subprocess): a short 4xx that echoes
little of what was sent, never a 500; and the kept-alive connection stays usable after any error.
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.app.conftest import LiveServer

NOT_JSON = "The body is not valid JSON: "


def post(server: LiveServer, path: str, body: str | bytes, *, connection: http.client.HTTPConnection | None = None,
         key: str = "all", method: str = "POST") -> tuple[int, bytes]:
    """Send ``body`` as it is (json.dumps would refuse a lone surrogate) on ``connection``, kept alive."""
    own = connection or http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=60)
    headers = {"Content-Type": "application/json"}
    if key == "other-origin":
        headers["Origin"] = "http://127.0.0.1:1"
    elif key != "none":
        headers["Authorization"] = f"Bearer {server.keys[key]}"
    own.request(method, path, body=body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body,
                headers=headers)
    response = own.getresponse()
    return response.status, response.read()


@pytest.fixture(scope="module")
def answer_id(live_server: LiveServer) -> str:
    status, body = post(live_server, "/api/v1/ask", json.dumps({"question": "How long is the Nile?"}))
    assert status == 200, body
    return json.loads(body)["answer_id"]


@pytest.mark.parametrize(("body", "why"), [
    ('{"sources": [{"n": NaN, "relevant": true}]}', "NaN is not a number JSON allows."),
    ('{"sources": [{"n": Infinity, "relevant": true}]}', "Infinity is not a number JSON allows."),
    ('{"comment": "fine \\ud800 so far"}', "it holds a lone surrogate"),
    ('{"correction": {"text": "\\udfff"}}', "it holds a lone surrogate"),
    ('{"comment": "\ud800"}', "it is not UTF-8."),  # a raw surrogate: no UTF-8 encodes it
    (b'{"comment": "\xff"}', "it is not UTF-8."),
])
def test_json_that_only_python_accepts_is_a_short_422(live_server, answer_id, body, why):
    """Item 9: these were 500s (the database, or FastAPI's 422 answer writing the input back, failed)."""
    status, answer = post(live_server, f"/api/v1/answers/{answer_id}/feedback", body)
    assert status == 422, answer
    assert json.loads(answer)["detail"].startswith(NOT_JSON + why.split(" (")[0])


def test_a_huge_bad_field_gets_a_short_answer(live_server, answer_id):
    """Item 9: a 1 MB field that is not valid was written back whole in the 422."""
    status, answer = post(live_server, f"/api/v1/answers/{answer_id}/feedback", json.dumps({"thumb": "x" * 1_000_000}))
    assert status == 422 and len(answer) < 2_000, answer[:300]
    detail = json.loads(answer)["detail"]
    assert detail[0]["loc"] == ["body", "thumb"] and "xxxxxxxxxx" not in answer.decode()
    status, answer = post(live_server, "/api/v1/ask", json.dumps({"question": 1, "thread_id": "y" * 1_000_000}))
    assert status == 422 and len(answer) < 2_000


def test_after_an_error_the_kept_alive_connection_still_answers(live_server, answer_id):
    """Item 14: after any error answer (404, 401, 422, 405) the next request on the same connection is served."""
    connection = http.client.HTTPConnection(urlsplit(live_server.url).netloc, timeout=60)
    errors = [
        ("/api/v1/answers/no-such-answer/feedback", '{"thumb": "up"}', "all", "POST", 404),
        ("/api/v1/ask", '{"question": NaN}', "all", "POST", 422),
        ("/api/v1/ask", '{"question": 5}', "all", "POST", 422),
        ("/api/v1/ask", '{"question": "Nile?"}', "feedback", "POST", 403),
        ("/api/v1/ask", "", "all", "PUT", 405),
        ("/chat/feedback", '{"feedback": {"forId": "x", "value": NaN}}', "all", "PUT", 422),
        ("/no/such/page", '{"question": "Nile?"}', "all", "POST", 404),  # the body is never read
        ("/api/v1/ask", '{"question": "Nile?"}', "none", "POST", 401),
        ("/chat/logout", "{}", "other-origin", "POST", 403),
    ]
    for path, body, key, method, expected in errors:
        status, _ = post(live_server, path, body, connection=connection, key=key, method=method)
        assert status == expected, path
        status, _ = post(live_server, "/api/v1/ask", '{"question": "How long is the Nile?"}', connection=connection)
        assert status == 200, f"the connection did not survive the {expected} of {path}"
