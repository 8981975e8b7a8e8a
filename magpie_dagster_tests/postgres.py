"""A real PostgreSQL server for tests: a fresh cluster in a temporary directory, on a free loopback port, stopped
by its own PID. Debian's `postgresql` is installed when the machine has no server binaries (here and in .ci/run)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from magpie_dagster.storage.leases import pid_running
from magpie_dagster_tests.debian import installed
from magpie_dagster_tests.servers import free_loopback_port

USER = "magpie"


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    def environment(self) -> dict[str, str]:
        """What the shipped deploy/dagster.yaml reads."""
        return {"DAGSTER_PG_URL": f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.database}"}

    def query(self, sql: str, database: str | None = None) -> str:
        return subprocess.run(
            ["psql", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database or self.database, "-tAc",
             sql],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()


def server_binaries() -> Path:
    """The server's programs; installed from Debian's packages first when missing and this is root."""
    return Path(installed("postgresql", _initdb)).resolve().parent


def _initdb() -> str | None:
    return shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)


@contextlib.contextmanager
def postgres_server(database: str = "dagster") -> Iterator[Postgres]:
    """PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system user."""
    binaries = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="magpie-pg-", dir="/tmp"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    port = free_loopback_port()
    data = root / "data"
    run = lambda *command: subprocess.run([*as_owner, *command], check=True, capture_output=True)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", USER)
    run(
        str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start",
    )  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    try:
        server = Postgres("127.0.0.1", port, USER, database)
        subprocess.run(
            ["psql", "-h", server.host, "-p", str(port), "-U", USER, "-d", "postgres", "-c",
             f"CREATE DATABASE {database}"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield server
    finally:
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_running(pid):
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
