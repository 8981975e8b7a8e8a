"""What a finished night looks like, to compare before and after a run that must not change it: every table's rows
(timestamps, the stage ledger and the cost ledger left out) and every export file's bytes."""

from __future__ import annotations

import hashlib

from magpie_dagster.storage.costs_schema import ENGINE_CALLS
from magpie_dagster.storage.lease_schema import LEASES
from magpie_dagster.storage.schema import UNIQUE_KEYS
from magpie_dagster.storage.warehouse import Warehouse

# The tables a failed run is meant to change: the stage ledger records it, the cost ledger keeps its calls.
LEDGERS = (LEASES, ENGINE_CALLS)


def night_snapshot(warehouse: Warehouse) -> dict[str, object]:
    tables = {}
    with warehouse.connect(read_only=True) as connection:
        for table in UNIQUE_KEYS:
            if table in LEDGERS:
                continue
            columns = [row[0] for row in connection.execute(f"DESCRIBE {table}").fetchall() if row[0] != "created_at"]
            rows = connection.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            tables[table] = sorted(map(repr, rows))
    exports = warehouse.exports_root
    files = {
        str(path.relative_to(exports)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(exports.rglob("*"))
        if path.is_file()
    }
    return {"tables": tables, "exports": files}


def table_text(warehouse: Warehouse) -> str:
    """Every row of every table as text, to search for what must never be stored (an API key)."""
    with warehouse.connect(read_only=True) as connection:
        return "\n".join(repr(connection.execute(f"SELECT * FROM {table}").fetchall()) for table in UNIQUE_KEYS)
