"""The warehouse file kept open between the calls of a stage, and closed as soon as the calls pause.

Opening a DuckDB file costs ~20 ms (its catalogue is read, DuckDB's built-ins registered) and closing it several
more (a checkpoint), and a stage makes dozens of short calls: schema, lease, resume, each batch's rows and cost,
metadata, the read copy. Within `kept_open(path)` a connection is parked after each use and the next call of any
thread of this process takes it; a watcher thread closes it once it has been idle for `LINGER_S`. So another
process waiting for the file (DuckDB admits one writer process) waits at most that much longer, an engine never
decodes while this process holds the file, and nothing holds it once the block ends.

Every use runs under `PROCESS_LOCK`, the warehouse's lock for this process's connections.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

LINGER_S = 0.1
# DuckDB refuses a second connection to a file open in this process with another configuration (read-only vs
# read-write), so the process's connections are taken one at a time; each is short.
PROCESS_LOCK = threading.RLock()
_idle = threading.Condition(PROCESS_LOCK)


@dataclass
class _Parked:
    connection: duckdb.DuckDBPyConnection
    read_only: bool
    since: float


_blocks: Counter[str] = Counter()  # file -> open `kept_open` blocks
_parked: dict[str, _Parked] = {}
_watcher: threading.Thread | None = None


@contextmanager
def kept_open(path: Path) -> Iterator[None]:
    """Connections to `path` are parked between calls for the block's duration (blocks nest, across threads)."""
    key = _key(path)
    with PROCESS_LOCK:
        _blocks[key] += 1
    try:
        yield
    finally:
        with PROCESS_LOCK:
            _blocks[key] -= 1
            if _blocks[key] == 0:
                del _blocks[key]
                _close(key)


def take(path: Path, read_only: bool) -> tuple[duckdb.DuckDBPyConnection, bool] | None:
    """The connection parked for `path` and whether it is read-only, if it serves this call (a read-only one
    serves reads only). The caller holds `PROCESS_LOCK`."""
    key = _key(path)
    parked = _parked.get(key)
    if parked is None:
        return None
    if parked.read_only and not read_only:
        _close(key)
        return None
    del _parked[key]
    return parked.connection, parked.read_only


def park(path: Path, connection: duckdb.DuckDBPyConnection, read_only: bool) -> bool:
    """Keeps a connection that just served a call without error, inside a block; False: the caller closes it.
    The caller holds `PROCESS_LOCK`."""
    key = _key(path)
    if key not in _blocks:
        return False
    _parked[key] = _Parked(connection, read_only, time.monotonic())
    _start_watcher()
    _idle.notify()
    return True


def close_all() -> None:
    with PROCESS_LOCK:
        for key in list(_parked):
            _close(key)


def _watch() -> None:
    with PROCESS_LOCK:
        while True:
            now = time.monotonic()
            for key, parked in list(_parked.items()):
                if now - parked.since >= LINGER_S:
                    _close(key)
            due = [parked.since + LINGER_S - now for parked in _parked.values()]
            _idle.wait(timeout=max(min(due), 0.001) if due else None)


def _start_watcher() -> None:
    global _watcher
    if _watcher is None or not _watcher.is_alive():
        _watcher = threading.Thread(target=_watch, name="warehouse-parking", daemon=True)
        _watcher.start()


def _close(key: str) -> None:
    parked = _parked.pop(key, None)
    if parked is not None:
        with suppress(duckdb.Error):  # its commits are in the file or its WAL; a failed checkpoint loses none
            parked.connection.close()


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _forget_in_child() -> None:
    """A forked child has no watcher thread; the parent closed its parked connections before the fork."""
    global _watcher
    _watcher = None
    _parked.clear()


os.register_at_fork(before=close_all, after_in_child=_forget_in_child)
atexit.register(close_all)
