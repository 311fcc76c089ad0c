"""Security, end to end, as an attacker would try it: a hostile page on another port of the same
host (so the victim's cookie goes along), a token kept after signing out, tricks on the sign-in form.
Each test failed on the code before issue 13 was fixed.
"""

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import socketio
from playwright.sync_api import Browser, Page, expect

from feedback import accounts
from tests.e2e.conftest import GROUNDLOOP, TESTER, TESTER_PASSWORD, Server, _env, free_port, server_db
from tests.e2e.feedback_fixtures import (  # noqa: F401 (fixtures)
    SOCKET_PATH,
    Socket,
    add_people,
    feedback_server,
    sign_in_page,
    signed_in,
    sockets,
)

GUESTS = {"erin": "erin-pw", "frank": "frank-pw", "gina": "gina-pw", "hal": "hal-pw", "ivy": "ivy-pw"}
REVIEWER = "ivy"
REFUSED = "Cross-origin request refused."


@pytest.fixture(scope="module")
def guests(feedback_server: Server, e2e_dir: Path) -> dict[str, str]:
    """People of this module's own on the feedback server, whose sessions these tests may end."""
    add_people(feedback_server.data_dir, e2e_dir, GUESTS)
    with server_db(feedback_server) as db:
        accounts.set_role(db, identifier=REVIEWER, role="reviewer")
    return GUESTS


class HostilePage:
    """A page served from another port of 127.0.0.1: another origin, but the same site, so the
    browser sends the groundloop cookie along with the page's requests."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile() -> Iterator:
    opened: list[HostilePage] = []

    def serve(html: str) -> HostilePage:
        opened.append(HostilePage(html))
        return opened[-1]

    yield serve
    for page in opened:
        page.close()


# What a hostile script does with the socket: open it as Chainlit's page does and ask socket.io to
# connect; it resolves with what it got: "connected" (the server took it as the victim), or why not.
OPEN_SOCKET = """(base) => new Promise((resolve) => {
    const socket = new WebSocket(base.replace("http", "ws") + "/chat/ws/socket.io/?EIO=4&transport=websocket");
    const auth = {sessionId: crypto.randomUUID(), clientType: "webapp", userEnv: "{}", chatProfile: null, threadId: null};
    socket.onmessage = (event) => {
        if (event.data.startsWith("0")) socket.send("40" + JSON.stringify(auth));
        else if (event.data.startsWith("40")) { resolve("connected"); socket.close(); }
        else if (event.data.startsWith("44")) resolve("refused by socket.io");
    };
    socket.onerror = () => resolve("handshake refused");
    setTimeout(() => resolve("no answer"), 10000);
})"""


def test_a_page_of_another_origin_cannot_use_the_victims_socket(page: Page, feedback_server: Server, hostile) -> None:
    """Item 1: the victim is signed in; a page from another port opens the chat socket with her cookie."""
    sign_in_page(page, feedback_server, "alice")
    assert page.evaluate(OPEN_SOCKET, feedback_server.url) == "connected"  # from the chat's own origin: works

    evil = hostile("<html><body>cats</body></html>")
    page.goto(evil.url)
    assert page.evaluate(OPEN_SOCKET, feedback_server.url) == "handshake refused"
    posted = page.evaluate("""(base) => fetch(base + "/chat/project/translations?language=en", {method: "POST",
        credentials: "include", mode: "no-cors"}).then(() => "sent")""", feedback_server.url)
    assert posted == "sent"


def test_state_changing_requests_from_another_origin_are_refused(feedback_server: Server, guests) -> None:
    """Item 1 over HTTP: a browser sends the page's Origin; another origin's request is refused,
    this server's own and one without an Origin (not a browser) are not."""
    client = signed_in(feedback_server, "erin", guests["erin"])
    other = {"Origin": "http://127.0.0.1:1"}
    assert client.post("/chat/logout", headers=other).json() == {"detail": REFUSED}
    assert client.get("/chat/user").status_code == 200  # still signed in: the logout was not done
    polling = client.get(SOCKET_PATH + "/", params={"EIO": "4", "transport": "polling"}, headers=other)
    assert polling.status_code == 403
    assert client.get(SOCKET_PATH + "/", params={"EIO": "4", "transport": "polling"},
                      headers={"Origin": feedback_server.url}).status_code == 200
    assert client.post("/chat/logout", headers={"Origin": "null"}).status_code == 403
    assert client.post("/chat/logout", headers={"Origin": feedback_server.url}).status_code == 200


def test_a_sign_in_form_posted_from_another_site_is_refused(browser: Browser, feedback_server: Server,
                                                             hostile) -> None:
    """Item 4 (login CSRF): a hostile page posts the attacker's name and password to the sign-in form,
    so that the victim would chat, unknowing, as the attacker. No session may come of it."""
    evil = hostile(f"""<html><body><form id="f" method="post" action="{feedback_server.url}/chat/login">
        <input name="username" value="{TESTER}"><input name="password" value="{TESTER_PASSWORD}"></form>
        <script>document.getElementById("f").submit()</script></body></html>""")
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_response(lambda r: r.url.endswith("/chat/login")) as posted:
            page.goto(evil.url)
        assert posted.value.status == 403
        assert not [c for c in context.cookies() if c["name"].startswith("access_token")]
    finally:
        context.close()


def sign_out_cli(server: Server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(GROUNDLOOP), "--data-dir", str(server.data_dir), "users", *args],
                          cwd=server.data_dir.parent, env=_env(), capture_output=True, text=True, timeout=120)


def signed_out_everywhere(server: Server, client: httpx.Client, token: str) -> None:
    """The token opens nothing: the person, the thread list, a new token, the socket."""
    old = httpx.Client(base_url=server.url, timeout=30, cookies={"access_token": token})
    assert old.get("/chat/user").status_code == 401
    assert old.post("/chat/project/threads", json={"pagination": {"first": 20}, "filter": {}}).status_code == 401
    assert httpx.post(server.url + "/chat/auth/jwt", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        Socket(server, old)


def test_logout_ends_the_session_on_the_server(feedback_server: Server, guests) -> None:
    """Item 2: after logging out, a copy of the old token is worth nothing."""
    client = signed_in(feedback_server, "frank", guests["frank"])
    token = client.cookies["access_token"]
    assert client.get("/chat/user").json()["identifier"] == "frank"
    assert client.post("/chat/logout").status_code == 200
    signed_out_everywhere(feedback_server, client, token)
    assert signed_in(feedback_server, "frank", guests["frank"]).get("/chat/user").status_code == 200  # again


def test_sign_out_role_and_password_changes_end_every_session(feedback_server: Server, guests) -> None:
    """Item 2: ``groundloop users sign-out``, ``users set-role`` and a new password each end all of
    the person's sessions; other people's stay."""
    bystander = signed_in(feedback_server, "hal", guests["hal"])
    for change in ("sign-out", "set-role", "password"):
        client = signed_in(feedback_server, "gina", guests["gina"])
        token = client.cookies["access_token"]
        if change == "sign-out":
            done = sign_out_cli(feedback_server, "sign-out", "gina")
            assert done.returncode == 0 and done.stdout == "gina is signed out everywhere.\n", done.stderr
        elif change == "set-role":
            assert sign_out_cli(feedback_server, "set-role", "gina", "reviewer").returncode == 0
        else:
            with server_db(feedback_server) as db:
                accounts.set_password(db, identifier="gina", password=guests["gina"])
        signed_out_everywhere(feedback_server, client, token)
    assert bystander.get("/chat/user").status_code == 200
    missing = sign_out_cli(feedback_server, "sign-out", "nobody")
    assert missing.returncode != 0 and "No user named 'nobody'." in missing.stdout + missing.stderr



@pytest.fixture(scope="module")
def guard_server(e2e_dir: Path, data_dir: Path) -> Iterator[Server]:
    """A production server of its own (its sign-in counts must not lock others out): two failures
    per name, six per address; no proxy is trusted but 10.9.9.9, which is not us."""
    from tests.e2e.feedback_fixtures import start_server, stop_server

    server = start_server("guard", data_dir, e2e_dir, env="production", auth_secret="g" * 48,
                          sign_in_failures_per_name="2", sign_in_failures_per_minute="6",
                          trusted_proxies="10.9.9.9")
    yield server
    stop_server(server)


def form_sign_in(server: Server, body: str | None = None, *, files: dict | None = None,
                 headers: dict | None = None) -> httpx.Response:
    """The sign-in form posted as sent: urlencoded text as it is, or multipart fields."""
    if files is not None:
        return httpx.post(server.url + "/chat/login", files=files, headers=headers, timeout=30)
    return httpx.post(server.url + "/chat/login", content=body, timeout=30,
                      headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})})


def test_sign_in_cookies_are_secure_in_production(guard_server: Server, feedback_server: Server) -> None:
    """Item 3: Secure in production; HttpOnly and SameSite=Lax always; not Secure on a plain
    development server (the browser would not send it back over http)."""
    cookie = form_sign_in(guard_server, "username=alice&password=alice-pw").headers["set-cookie"]
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax"} <= attributes, cookie
    cookie = form_sign_in(feedback_server, "username=alice&password=alice-pw").headers["set-cookie"]
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax"} <= attributes and "secure" not in attributes, cookie


def test_a_second_username_field_is_refused(guard_server: Server) -> None:
    """Item 6: the limit counted the first name while the password was checked for the last."""
    refused = form_sign_in(guard_server, "username=decoy&username=alice&password=alice-pw")
    assert (refused.status_code, refused.json()) == (400, {"detail": "Each field of the sign-in form may be sent only once."})
    assert form_sign_in(guard_server, "username=alice&password=alice-pw&password=x").status_code == 400
    assert form_sign_in(guard_server, "username=alice&password=alice-pw").status_code == 200


def test_a_multipart_sign_in_is_counted_under_its_name(guard_server: Server) -> None:
    """Item 6: multipart bodies were all counted under one empty name: two failures for carol
    locked out dave, and carol could go on guessing in the other encoding."""
    for _ in range(2):
        assert form_sign_in(guard_server, files={"username": (None, "carol"), "password": (None, "x")}).status_code == 401
    assert form_sign_in(guard_server, files={"username": (None, "dave"), "password": (None, "x")}).status_code == 401
    assert form_sign_in(guard_server, "username=carol&password=x").status_code == 429
    assert form_sign_in(guard_server, files={"username": (None, "carol"), "password": (None, "carol-pw")}).status_code == 429


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(guard_server: Server) -> None:
    """Item 6: a client on loopback changed its own address with X-Forwarded-For, so the
    per-address count never filled. (Last in this module: it locks the address out.)"""
    statuses = [form_sign_in(guard_server, f"username=guess{i}&password=x",
                             headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(6)]
    assert 429 in statuses, statuses
    refused = form_sign_in(guard_server, "username=someone-new&password=x", headers={"X-Forwarded-For": "198.51.100.99"})
    assert refused.status_code == 429 and refused.json()["detail"].startswith("Too many failed sign-ins from here")


# Every CSP violation the page sees, as the browser reports it to the page itself.
RECORD_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));"""


def test_every_page_has_security_headers_and_works_under_its_policy(page: Page, feedback_server: Server,
                                                                    guests) -> None:
    """Item 5: chat, sign-in, review, dashboard and API docs each say nosniff, a referrer policy, no
    framing and a Content-Security-Policy; and the browser reports no violation of it on any of them."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    seen = {}

    def visit(path: str, ready) -> None:
        response = page.goto(feedback_server.url + path)
        ready()
        seen[path] = (response.headers, page.evaluate("window.__violations"))

    visit("/chat/login", lambda: expect(page.locator("#password")).to_be_visible())
    page.locator("#email").fill(REVIEWER)
    page.locator("#password").fill(guests[REVIEWER])
    page.get_by_role("button", name="Sign In").click()
    expect(page.locator("#chat-input")).to_be_editable(timeout=30_000)
    visit("/chat/", lambda: expect(page.locator("#chat-input")).to_be_editable(timeout=30_000))
    visit("/review", lambda: expect(page.get_by_role("heading").first).to_be_visible())
    visit("/review/dashboard", lambda: expect(page.get_by_role("heading").first).to_be_visible())
    visit("/docs", lambda: expect(page.locator(".swagger-ui .info")).to_be_visible())
    visit("/redoc", lambda: expect(page.locator("redoc, [role=search], .api-content").first).to_be_attached())

    for path, (headers, violations) in seen.items():
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "same-origin", path
        assert headers.get("x-frame-options") == "DENY", path
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], path
        # Redoc's bundle always asks for the Redocly logo from its CDN (and copes when it fails): the
        # policy blocks that on purpose, as the server serves everything itself. Nothing else.
        expected = ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"] if path == "/redoc" else []
        assert violations == expected, (path, violations)
    assert not [text for text in console if "Content Security Policy" in text and "cdn.redoc.ly" not in text], console


def test_the_data_folder_is_its_owners_alone(data_dir: Path, feedback_server: Server, guests) -> None:
    """Item 8: what ``groundloop ingest`` and ``users add`` made, and what the running server made
    (SQLite's -wal and -shm, Chroma's files), is readable by its owner only."""
    assert signed_in(feedback_server, "erin", guests["erin"]).get("/chat/user").status_code == 200
    for folder in (data_dir, feedback_server.data_dir):
        made = [folder, *folder.rglob("*")]
        assert any(path.name == "groundloop.sqlite" for path in made), [p.name for p in made]
        loose = [f"{path} {path.stat().st_mode & 0o777:o}" for path in made
                 if path.stat().st_mode & 0o077 or (path.is_dir() and path.stat().st_mode & 0o700 != 0o700)]
        assert loose == []


def test_the_question_history_is_never_stored_in_a_thread_or_sent_to_the_page(feedback_server: Server, guests,
                                                                              sockets) -> None:
    """Item 7: the chat's user session (with the thread's question history) was stored as thread
    metadata, which the thread routes send to the browser."""
    client = signed_in(feedback_server, "hal", guests["hal"])
    chat = sockets(feedback_server, client)
    reply = chat.ask("How long is the Nile?")
    chat.close()  # Chainlit stores the session in the thread when the socket goes
    thread = client.get(f"/chat/project/thread/{reply.thread_id}")
    assert thread.status_code == 200, thread.text
    assert "history" not in (thread.json().get("metadata") or {})
    resumed = sockets(feedback_server, client, thread_id=reply.thread_id)
    follow_up = resumed.ask("How long is it?")  # the history is read back from the stored answers
    assert "6,650" in follow_up.text
    resumed.close()
    assert "history" not in (client.get(f"/chat/project/thread/{reply.thread_id}").json().get("metadata") or {})
