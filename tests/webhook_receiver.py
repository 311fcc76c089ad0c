"""A webhook target for tests: a real HTTP server on 127.0.0.1 that records what it is sent,
checks each signature against the shared secret, and answers with the statuses it is told.

    with WebhookReceiver(secret) as receiver:
        receiver.answers = [500]      # the first delivery fails, the rest get 200
        ... receiver.wait_for(2)      # both attempts, as (headers, body, signature_ok)
"""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.answers: list[int] = []
        """Statuses for the next requests, in order; 200 once they run out."""
        self.received: list[Received] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                given = self.headers.get("x-groundloop-signature", "")
                with receiver._lock:
                    receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body,
                                                      hmac.compare_digest(expected, given)))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver._lock.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n: int, timeout: float = 60) -> list[Received]:
        """The first ``n`` requests, once they have all arrived (fails the test after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.received)} of {n} deliveries")
                self._lock.wait(left)
            return list(self.received[:n])

    def __enter__(self) -> "WebhookReceiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
