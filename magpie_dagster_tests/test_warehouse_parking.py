"""A stage's calls share one open warehouse file while they follow each other closely (storage/parking.py); the
file is free for other processes as soon as the calls pause, before a fork, and once the stage ends."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

import duckdb
import pytest

from magpie_dagster.storage import parking
from magpie_dagster.storage.read_copy import publish_read_copy
from magpie_dagster_tests.test_warehouse import count

MARKERS = "SELECT count(*) FROM magpie_warehouse"
ADD_MARKER = "INSERT INTO magpie_warehouse (schema_version) VALUES (0)"

# Another process writes the file, retrying while it is locked, and prints how long it waited.
OTHER_WRITER = """
import sys, time
import duckdb
started = time.monotonic()
while True:
    try:
        with duckdb.connect(sys.argv[1]) as connection:
            connection.execute("INSERT INTO magpie_warehouse (schema_version) VALUES (0)")
        break
    except duckdb.IOException:
        if time.monotonic() - started > 20:
            raise
        time.sleep(0.02)
print(time.monotonic() - started)
"""
# Another process opens the file once, without waiting.
OTHER_OPENER = """
import sys
import duckdb
try:
    duckdb.connect(sys.argv[1]).close()
    print("opened")
except duckdb.IOException as error:
    print(error)
"""


def test_calls_in_a_block_share_one_connection_and_nothing_holds_the_file_after_it(warehouse):
    with warehouse.kept_open():
        with warehouse.connect() as first:
            pass
        with warehouse.connect(read_only=True) as second:  # a read-write connection serves reads too
            pass
        with warehouse.transaction() as third:
            third.execute(ADD_MARKER)
        assert second is first and third is first
    with duckdb.connect(str(warehouse.path), read_only=True) as reader:  # another configuration: refused if held
        assert reader.execute(MARKERS).fetchone()[0] == 2
    with warehouse.connect() as outside, warehouse.connect() as another_outside:
        assert another_outside is not outside


def test_a_read_only_connection_parked_in_a_block_gives_way_to_a_write(warehouse):
    with warehouse.kept_open():
        with warehouse.connect(read_only=True) as reader:
            pass
        with warehouse.transaction() as writer:
            writer.execute(ADD_MARKER)
        assert writer is not reader
    assert count(warehouse, MARKERS) == 2


def test_a_connection_whose_call_failed_is_not_reused(warehouse):
    with warehouse.kept_open():
        with pytest.raises(duckdb.CatalogException), warehouse.connect() as failed:
            failed.execute("SELECT * FROM no_such_table")
        with warehouse.connect() as fresh:
            assert fresh is not failed
            assert fresh.execute(MARKERS).fetchone()[0] == 1


def test_another_process_writes_while_the_block_pauses(warehouse):
    """The block stays open the whole time: only the watcher closing the idle connection lets the other in."""
    with warehouse.kept_open():
        with warehouse.transaction() as connection:
            connection.execute(ADD_MARKER)
        other = subprocess.run(
            [sys.executable, "-c", OTHER_WRITER, str(warehouse.path)], capture_output=True, text=True, timeout=120
        )
        assert other.returncode == 0, other.stderr[-2000:]
        with warehouse.connect() as connection:  # and this process takes the file back
            assert connection.execute(MARKERS).fetchone()[0] == 3
    assert float(other.stdout) < 10


def _read_in_child(path: str, done: multiprocessing.Queue) -> None:
    """A read-only connection: refused if the child inherited the parent's open database (DuckDB's instance cache
    would hand the child the parent's copy, writing behind the parent's back)."""
    try:
        with duckdb.connect(path, read_only=True) as connection:
            done.put(connection.execute(MARKERS).fetchone()[0])
    except duckdb.Error as error:
        done.put(str(error))


def test_a_fork_inside_a_block_closes_the_parked_connection_first(warehouse, monkeypatch):
    monkeypatch.setattr(parking, "LINGER_S", 60.0)  # only the fork hook can free the file within the test
    fork = multiprocessing.get_context("fork")
    done = fork.Queue()
    with warehouse.kept_open():
        with warehouse.connect() as connection:
            connection.execute("SELECT 1")
        child = fork.Process(target=_read_in_child, args=(str(warehouse.path), done))
        child.start()
        assert done.get(timeout=60) == 1
        child.join(60)
        with warehouse.connect() as again:  # and the parent opens it again
            assert again.execute(MARKERS).fetchone()[0] == 1



def test_a_connection_whose_file_was_copied_is_not_reused(warehouse):
    """Copying the file for the read copy opens and closes it, which drops this process's lock on it (POSIX
    record locks): a connection reused after that would let another process open the file beside it."""
    with warehouse.kept_open():
        assert publish_read_copy(warehouse) == warehouse.read_copy_path
        with warehouse.connect() as holding:
            holding.execute("SELECT 1")
            other = subprocess.run(
                [sys.executable, "-c", OTHER_OPENER, str(warehouse.path)], capture_output=True, text=True, timeout=120
            )
    assert "Could not set lock" in other.stdout, other.stdout + other.stderr[-2000:]
