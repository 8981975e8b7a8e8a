"""Analysts on the read copy through a night, as processes of their own (DuckDB's Python client hands a process
the database it already has open, so a fresh look needs a process that holds nothing):

    python -m magpie_dagster_tests.held_reader hold COPY STOP OUT   # one connection, open until STOP appears
    python -m magpie_dagster_tests.held_reader poll COPY STOP OUT   # a fresh connection every 0.3 s

`hold` writes {"before": counts, "after": counts} (what its one connection saw when it opened and at the end);
`poll` writes the list of distinct snapshots it saw: running and finished stages in the copy's lease ledger, and
each table's row count.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

TABLES = ("instructions", "responses", "judgements", "dedup_nearest", "curated_rows")


def counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    present = {name for (name,) in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return {
        name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES if name in present
    }


def snapshot(connection: duckdb.DuckDBPyConnection) -> dict:
    leases = connection.execute("SELECT stage, partition_key, status FROM stage_leases ORDER BY ALL").fetchall()
    return {
        "running": [f"{stage} {key}" for stage, key, status in leases if status == "running"],
        "finished": [f"{stage} {key}" for stage, key, status in leases if status == "finished"],
        "counts": counts(connection),
    }


def hold(copy: Path, stop: Path) -> dict:
    _wait_for(copy, stop)
    held = duckdb.connect(str(copy), read_only=True)
    before = counts(held)
    while not stop.exists():
        time.sleep(0.2)
    return {"before": before, "after": counts(held)}


def poll(copy: Path, stop: Path) -> list[dict]:
    _wait_for(copy, stop)
    seen: list[dict] = []
    while True:
        stopping = stop.exists()  # one look after STOP appears: the copy as the night left it
        fresh = duckdb.connect(str(copy), read_only=True)
        try:
            now = snapshot(fresh)
        finally:
            fresh.close()
        if not seen or now != seen[-1]:
            seen.append(now)
        if stopping:
            return seen
        time.sleep(0.3)


def _wait_for(copy: Path, stop: Path) -> None:
    while not copy.exists() and not stop.exists():
        time.sleep(0.1)


if __name__ == "__main__":
    mode, copy, stop, out = sys.argv[1], *(Path(argument) for argument in sys.argv[2:5])
    out.write_text(json.dumps({"hold": hold, "poll": poll}[mode](copy, stop)))
