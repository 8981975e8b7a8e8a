"""The read copy: a snapshot of the warehouse file that analysts query while a night writes.

DuckDB lets one process write a file or many processes read it, never both: a notebook holding the warehouse
open would stop the night at its next write. So the warehouse is copied to `<name>.read.duckdb` beside it when a
stage finishes: written to a staging file, then renamed over the old copy. A reader holding the old copy keeps
reading it undisturbed (the rename never touches an open file); a new connection sees the new copy.

A copy is made only while no stage of any run is writing (no live lease), so it never shows a half-written
stage: the stage that finishes last finds the house quiet and publishes. Rows of a stage whose run was killed
(its lease dead) are committed batches: they show until the stage runs again. A lake needs no copy: its readers
never block its writers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from magpie_dagster.storage import leases
from magpie_dagster.storage.errors import WarehouseError, first_line
from magpie_dagster.storage.schema import MARKER_TABLE
from magpie_dagster.storage.warehouse import Warehouse


def publish_read_copy(warehouse: Warehouse, *, ttl_s: float = leases.DEFAULT_TTL_S) -> Path | None:
    """Refreshes the read copy and returns its path; None when skipped (a lake, or a stage is writing: the
    last one to finish publishes). A failure raises `WarehouseError` (or `OSError` from the disk); the warehouse is
    untouched either way. The file is checkpointed and copied byte for byte while this process holds it,
    so no transaction is half in it; DuckDB's `COPY FROM DATABASE` rewrites every block and is ~70x slower."""
    target = warehouse.read_copy_path
    if target is None:
        return None
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove_leftovers(target)
    try:
        with warehouse.exclusive(reusable=False) as connection:  # the copy below opens the file: see `connect`
            if leases.live_leases(connection, ttl_s):
                return None
            connection.execute("CHECKPOINT")  # every commit in the file itself, none left in its WAL
            shutil.copyfile(warehouse.path, staging)  # no process can write while this connection holds the file
        with duckdb.connect(str(staging), read_only=True) as copied:  # a copy that does not open is never published
            copied.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()
        os.replace(staging, target)
    except duckdb.Error as error:
        raise WarehouseError(f"The read copy {target} was not published: {first_line(error)}") from None
    finally:
        _unlink_staging(staging)
    return target


def _remove_leftovers(target: Path) -> None:
    """Staging files of processes killed while copying (their pid is gone), and this process's own."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        pid = leftover.name[len(target.name) + 2 :].split(".")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or not leases.pid_running(int(pid))):
            leftover.unlink(missing_ok=True)


def _unlink_staging(staging: Path) -> None:
    for path in (staging, staging.with_name(staging.name + ".wal")):
        path.unlink(missing_ok=True)
