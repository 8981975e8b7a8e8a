"""The read copy (`storage/read_copy.py`): a finished stage publishes the warehouse to `<name>.read.duckdb`, a
reader holding it open blocks no night and keeps its snapshot, and no copy is made while a stage is writing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from magpie_dagster.storage import leases
from magpie_dagster.storage.read_copy import publish_read_copy
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.backends import file_backend
from magpie_dagster_tests.projects import Project

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2,
     instructions_per_batch: 6, batch_size: 3}
"""


@pytest.fixture
def file_project(tmp_path: Path) -> Project:
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent(CATALOGUE))
    return Project(catalogue, file_backend(tmp_path), NIGHT)


def _read(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_a_finished_stage_publishes_the_warehouse_rows_views_and_ledger(file_project):
    assert file_project.materialise("alpha").success
    warehouse = file_project.backend.warehouse()
    copy = warehouse.read_copy_path
    assert copy == warehouse.path.parent / "magpie.read.duckdb"
    for sql in (
        "SELECT count(*), count(*) FILTER (WHERE drop_reason IS NULL) FROM instructions",
        "SELECT count(*) FROM responses",
        "SELECT stage, status FROM stage_leases ORDER BY ALL",
        "SELECT count(*) FROM answer_tags",  # a view, copied as a view
    ):
        assert _read(copy, sql) == file_project.query(sql), sql
    assert _read(copy, "SELECT count(*) FROM instructions") == [(6,)]
    assert _read(copy, "SELECT count(*) FROM stage_leases WHERE status = 'running'") == [(0,)]
    assert [path.name for path in copy.parent.iterdir() if path.name.startswith(".")] == []  # no staging left


def test_a_reader_holding_the_copy_all_night_blocks_nothing_and_keeps_its_snapshot(file_project, tmp_path):
    assert file_project.materialise("alpha").success
    copy = file_project.backend.warehouse().read_copy_path
    stop, out = tmp_path / "stop", tmp_path / "held.json"
    reader = subprocess.Popen(
        [sys.executable, "-m", "magpie_dagster_tests.held_reader", "hold", str(copy), str(stop), str(out)]
    )
    try:
        _wait_until_holding(reader, copy)
        assert file_project.materialise("alpha", night=NIGHT + dt.timedelta(days=1)).success
    finally:
        stop.touch()
        assert reader.wait(timeout=60) == 0
    held = json.loads(out.read_text())
    assert held["before"]["instructions"] == held["after"]["instructions"] == 6  # its snapshot, all night
    assert _read(copy, "SELECT count(*) FROM instructions") == [(12,)]  # a new connection sees the new night


def test_no_copy_while_a_stage_is_writing_and_one_when_its_run_is_gone(file_project):
    assert file_project.materialise("alpha").success
    warehouse = file_project.backend.warehouse()
    copy = warehouse.read_copy_path
    before = copy.stat().st_ino
    lease = leases.acquire(warehouse, "responses", "alpha|2026-11-21", "run-writing-now")  # this live process
    assert publish_read_copy(warehouse) is None
    assert copy.stat().st_ino == before
    with warehouse.transaction() as connection:  # its process died: the lease is not live any more
        connection.execute("UPDATE stage_leases SET holder = ? WHERE run_id = ?", [_dead_holder(), lease.run_id])
    leftover = copy.with_name(f".{copy.name}.{_dead_pid()}.tmp")
    leftover.write_text("a copy killed halfway")
    assert publish_read_copy(warehouse) == copy
    assert copy.stat().st_ino != before and not leftover.exists()
    assert _read(copy, "SELECT status FROM stage_leases WHERE run_id = 'run-writing-now'") == [("running",)]


def test_a_lake_has_no_read_copy():
    lake = Warehouse("ducklake:postgres:dbname=nowhere host=127.0.0.1 port=1")
    assert lake.read_copy_path is None
    assert publish_read_copy(lake) is None  # and no connection was tried


def test_the_lock_message_points_a_reader_at_the_copy(tmp_path):
    warehouse = Warehouse(tmp_path / "magpie.duckdb", lock_timeout_s=0.3)
    warehouse.ensure_schema()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(warehouse.path)!r}); print(1, flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        holder.stdout.readline()
        with pytest.raises(Exception) as refused:
            warehouse.ensure_schema()
    finally:
        holder.kill()
        holder.wait()
    assert f"query the read copy {tmp_path / 'magpie.read.duckdb'} instead" in str(refused.value)


def _wait_until_holding(reader: subprocess.Popen, copy: Path) -> None:
    """The holder has the copy open once DuckDB's lock on it shows in /proc (its fd points at the file)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        descriptors = Path(f"/proc/{reader.pid}/fd")
        if any(os.path.realpath(fd) == str(copy) for fd in descriptors.iterdir()):
            return
        assert reader.poll() is None, "the reader process ended"
        time.sleep(0.1)
    raise AssertionError("the reader never opened the copy")


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def _dead_holder() -> str:
    return f"{leases.holder_name().rpartition(':')[0]}:{_dead_pid()}"
