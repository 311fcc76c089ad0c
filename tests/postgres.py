"""A throwaway PostgreSQL server from Debian's binaries, for the storage tests and the benchmarks.

``initdb`` into a temporary folder and ``pg_ctl start`` on a free loopback port, with the socket in
that folder and ``trust`` authentication. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` system user (``runuser``), which then owns the folder.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

DRIVER = "postgresql+psycopg"
BINARIES = "/usr/lib/postgresql/*/bin"


class PostgresMissing(RuntimeError):
    """No PostgreSQL binaries on this machine."""


class PostgresServer:
    """A server that can hand out fresh, empty databases; ``stop()`` removes it (when it started it)."""

    def __init__(self, url: str, *, data_dir: Path | None = None, bin_dir: Path | None = None) -> None:
        self.url = make_url(url).set(drivername=DRIVER)
        self.data_dir, self.bin_dir = data_dir, bin_dir

    def create_database(self, prefix: str = "groundloop") -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.data_dir is None:
            return
        _run(self.bin_dir / "pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop", cwd=self.data_dir.parent)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        self.data_dir = None

    def _admin(self) -> psycopg.Connection:
        url = self.url.set(drivername="postgresql")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def bin_dir() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder."""
    found = sorted(glob.glob(f"{BINARIES}/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresMissing(
            f"PostgreSQL is not installed (no {BINARIES}/initdb): the storage tests run on it too. "
            "`make test` installs Debian's postgresql package; or point GROUNDLOOP_TEST_POSTGRES_URL at a server."
        )
    return Path(found[-1]).parent


def start(*, durable: bool = False) -> PostgresServer:
    """Start a private server. ``durable=False`` turns off fsync: fine for tests, not for measurements."""
    binaries = bin_dir()
    root = Path(tempfile.mkdtemp(prefix="groundloop-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    _run(binaries / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
         cwd=root)
    port = _free_port()
    options = [f"-p {port}", f"-k {root}", "-c listen_addresses=127.0.0.1", "-c max_connections=300"]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    try:
        _run(binaries / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o", " ".join(options),
             "start", cwd=root)
    except subprocess.CalledProcessError as error:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr}\n{log[-2000:]}") from error
    return PostgresServer(f"{DRIVER}://postgres@127.0.0.1:{port}/postgres", data_dir=data, bin_dir=binaries)


def _run(program: Path, *args: object, cwd: Path) -> None:
    command = [str(program), *map(str, args)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
