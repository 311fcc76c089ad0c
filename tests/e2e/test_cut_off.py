"""Downloads the browser cuts off (a tab closed while the page loads) are not errors: the server's
log stays free of tracebacks."""

import re
import socket
import time
import urllib.request

from tests.e2e.conftest import Server


def cut_off(server: Server, path: str) -> None:
    """Ask for ``path`` and hang up at once, as a browser does when the page goes away."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())


def test_a_download_the_browser_cuts_off_leaves_no_traceback_in_the_log(server: Server):
    with urllib.request.urlopen(server.url + "/chat/", timeout=30) as response:
        scripts = re.findall(r'src="(/chat/assets/[^"]+\.js)"', response.read().decode())
    assert scripts

    for _ in range(10):
        for script in scripts:
            cut_off(server, script)
    with urllib.request.urlopen(server.url + scripts[0], timeout=30) as response:
        assert response.status == 200  # the server still serves the page's script whole
    time.sleep(1)  # a request that failed logs when its task ends, just after

    assert "Traceback" not in server.log()
