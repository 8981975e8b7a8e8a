"""The lease table: who is writing which stage of which partition, and how each stage's last run ended.

One row per (stage, partition_key). A running row is a lease: a second writer is refused while the holder
is alive (its heartbeat is recent and, on the same host, its process exists). A finished or failed row is
the stage's ledger entry, which the nightly stages read to decide whether a night may be built.
"""

from __future__ import annotations

LEASES = "stage_leases"

LEASES_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEASES} (
    stage VARCHAR NOT NULL,
    partition_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    holder VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    detail VARCHAR
)
"""
