"""What a finished night looks like, to compare before and after a run that must not change it: every table's rows
(timestamps and the stage ledger left out) and every export file's bytes."""

from __future__ import annotations

import hashlib

from magpie_dagster.storage.schema import UNIQUE_KEYS
from magpie_dagster.storage.warehouse import Warehouse

LEDGER = "stage_leases"  # records the failed run: the one table a failed run is meant to change


def night_snapshot(warehouse: Warehouse) -> dict[str, object]:
    tables = {}
    with warehouse.connect(read_only=True) as connection:
        for table in UNIQUE_KEYS:
            if table == LEDGER:
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
