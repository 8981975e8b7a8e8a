"""One writer per stage and partition, across processes and machines, recorded in the warehouse itself.

A run takes the lease of (stage, partition) before it writes anything and checks it inside every write
transaction, so a second run is refused at once and a run whose lease was taken over cannot write. A killed
run does not hold its lease for ever: on the same host it is free as soon as the holder's process is gone,
elsewhere when its heartbeat is older than the time to live. Released leases stay as the stage's ledger
entry (finished or failed, when, by which run), which the nightly stages read to decide whether to run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.lease_schema import LEASES
from magpie_dagster.storage.tables import dict_rows, upsert
from magpie_dagster.storage.warehouse import Warehouse

RUNNING, FINISHED, FAILED = "running", "finished", "failed"
DEFAULT_TTL_S = 600.0
HEARTBEAT_EVERY_S = 30.0
_LEASE_ROW = pa.schema(
    [(name, pa.string()) for name in ("stage", "partition_key", "run_id", "holder", "status")]
    + [(name, pa.timestamp("us")) for name in ("started_at", "heartbeat_at", "finished_at")]
    + [("detail", pa.string())]
)


class LeaseHeld(WarehouseError):
    """Another live run is writing this stage of this partition."""


class LeaseLost(WarehouseError):
    """This run's lease was taken over (it looked dead to another run); it must stop writing."""


@dataclass(frozen=True)
class Lease:
    warehouse: Warehouse
    stage: str
    partition_key: str
    run_id: str
    holder: str

    def assert_held(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Inside a write transaction: refuses to write unless this run still holds the lease."""
        row = connection.execute(
            f"SELECT run_id, holder, status FROM {LEASES} WHERE stage = ? AND partition_key = ?",
            [self.stage, self.partition_key],
        ).fetchone()
        if row != (self.run_id, self.holder, RUNNING):
            other = f"run {row[0]} ({row[1]}, {row[2]})" if row else "nobody"
            raise LeaseLost(
                f"Partition {self.partition_key} ({self.stage}): this run's lease is now held by {other}; "
                "this batch was not written. Another run took the partition over, believing this one dead."
            )


@dataclass(frozen=True)
class StageState:
    stage: str
    partition_key: str
    run_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    detail: str | None


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire(
    warehouse: Warehouse,
    stage: str,
    partition_key: str,
    run_id: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    wait_s: float = 0.0,
) -> Lease:
    """Takes the lease, waiting up to `wait_s` for a live holder; else raises `LeaseHeld` naming it."""
    lease = Lease(warehouse, stage, partition_key, run_id, holder_name())
    deadline = time.monotonic() + wait_s
    while True:
        with warehouse.transaction() as connection:
            row = connection.execute(
                f"SELECT run_id, holder, status, started_at, heartbeat_at FROM {LEASES} "
                "WHERE stage = ? AND partition_key = ?",
                [stage, partition_key],
            ).fetchone()
            if row is None or row[2] != RUNNING or row[0] == run_id or not _alive(row[1], row[4], ttl_s):
                now = _now()
                taken = {
                    "stage": stage,
                    "partition_key": partition_key,
                    "run_id": run_id,
                    "holder": lease.holder,
                    "status": RUNNING,
                    "started_at": now,
                    "heartbeat_at": now,
                }
                upsert(connection, LEASES, pa.Table.from_pylist([taken], schema=_LEASE_ROW))
                return lease
        if time.monotonic() >= deadline:
            other_run, holder, _, started_at, heartbeat_at = row
            raise LeaseHeld(
                f"Partition {partition_key} ({stage}) is being written by run {other_run} on {holder}, started "
                f"{started_at:%Y-%m-%d %H:%M:%S} UTC (last heartbeat {(_now() - heartbeat_at).total_seconds():.0f} s "
                "ago); nothing was written by this run. Wait for that run to end or terminate it; a killed run's "
                f"lease is free at once on the same host, after {ttl_s:.0f} s elsewhere."
            )
        time.sleep(0.2)


def heartbeat(lease: Lease) -> None:
    with lease.warehouse.transaction() as connection:
        lease.assert_held(connection)
        connection.execute(
            f"UPDATE {LEASES} SET heartbeat_at = ? WHERE stage = ? AND partition_key = ?",
            [_now(), lease.stage, lease.partition_key],
        )


def release(lease: Lease, status: str, detail: str | None = None) -> None:
    """Ends the lease as the stage's ledger entry; does nothing if another run has taken it over."""
    with lease.warehouse.transaction() as connection:
        now = _now()
        connection.execute(
            f"UPDATE {LEASES} SET status = ?, finished_at = ?, heartbeat_at = ?, detail = ? "
            "WHERE stage = ? AND partition_key = ? AND run_id = ? AND holder = ?",
            [status, now, now, detail, lease.stage, lease.partition_key, lease.run_id, lease.holder],
        )


def stage_states(warehouse: Warehouse, partition_keys: list[str]) -> dict[tuple[str, str], StageState]:
    """(stage, partition_key) -> the last run's state, for the partitions given."""
    with warehouse.connect(read_only=True) as connection:
        rows = dict_rows(
            connection.execute(
                f"SELECT stage, partition_key, run_id, status, started_at, finished_at, detail FROM {LEASES} "
                "WHERE list_contains(?, partition_key)",
                [partition_keys],
            )
        )
    return {(row["stage"], row["partition_key"]): StageState(**row) for row in rows}


def live_leases(connection: duckdb.DuckDBPyConnection, ttl_s: float = DEFAULT_TTL_S) -> list[tuple[str, str]]:
    """(stage, partition_key) of every stage some live run is writing now, in any run on any host."""
    rows = connection.execute(
        f"SELECT stage, partition_key, holder, heartbeat_at FROM {LEASES} WHERE status = ?", [RUNNING]
    ).fetchall()
    return [(stage, key) for stage, key, holder, heartbeat_at in rows if _alive(holder, heartbeat_at, ttl_s)]


class Heartbeat:
    """Renews a lease from a background thread while a stage works (a batch may outlast the time to live)."""

    def __init__(self, lease: Lease, every_s: float = HEARTBEAT_EVERY_S) -> None:
        self._lease = lease
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{lease.partition_key}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                heartbeat(self._lease)
            except LeaseLost:
                return  # the next write fails with the reason
            except (WarehouseError, duckdb.Error):
                continue  # a busy or briefly unreadable file: try again at the next beat


def _alive(holder: str, heartbeat_at: dt.datetime, ttl_s: float) -> bool:
    if (_now() - heartbeat_at).total_seconds() > ttl_s:
        return False
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return pid_running(int(pid))


def pid_running(pid: int) -> bool:
    """Whether a process of this host is alive (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
