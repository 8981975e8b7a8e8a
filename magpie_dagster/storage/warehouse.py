"""The DuckDB file every stage writes to.

DuckDB allows one writer process per file, so no connection is held while a model generates: each write
opens the file, runs one short transaction and closes it, retrying while another process holds the lock.
A partition is replaced by deleting its rows once at the start and appending finished batches, so a
re-run never touches another partition and a crash loses at most the batch in flight.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from magpie_dagster.storage.schema import DDL, INSTRUCTIONS, PARTITIONED_TABLES, RESPONSES

_LOCK_MESSAGES = ("Could not set lock", "Conflicting lock")


class WarehouseError(RuntimeError):
    """The warehouse file could not be opened or written; the message names the file and what to do."""


class Warehouse:
    def __init__(self, path: str | Path, lock_timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits (with backoff) while another process holds the write lock."""
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as error:
                if not any(message in str(error) for message in _LOCK_MESSAGES):
                    raise WarehouseError(f"Cannot open the warehouse {self.path}: {error}") from error
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"The warehouse {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_s:.0f} s. Stop the other writer (a `duckdb` shell or a "
                        "notebook holding the file open) or raise the lock timeout."
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            yield connection
        finally:
            connection.close()

    def ensure_schema(self) -> None:
        with self.connect() as connection:
            for statement in DDL:
                connection.execute(statement)

    def clear_partition(self, table: str, model: str, partition_date: dt.date) -> int:
        """Deletes one partition's rows of `table`; returns how many were removed."""
        _check_table(table)
        with self.connect() as connection:
            removed = connection.execute(
                f"DELETE FROM {table} WHERE model = ? AND partition_date = ?", [model, partition_date]
            ).fetchone()[0]
        return int(removed)

    def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Appends rows in one transaction; columns are matched by name and typed by the table's schema."""
        _check_table(table)
        if not rows:
            return
        with self.connect() as connection:
            batch = typed_batch(connection, table, rows)  # noqa: F841 (read by SQL)
            connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch")

    def kept_instructions(self, model: str, partition_date: dt.date) -> list[dict[str, Any]]:
        """The partition's usable instructions (no drop reason), in sample order."""
        with self.connect(read_only=True) as connection:
            cursor = connection.execute(
                f"""
                SELECT conversation_id, sample_index, instruction, system_prompt_name
                FROM {INSTRUCTIONS}
                WHERE model = ? AND partition_date = ? AND drop_reason IS NULL
                ORDER BY sample_index
                """,
                [model, partition_date],
            )
            return dict_rows(cursor)

    def count_rows(self, table: str, model: str, partition_date: dt.date) -> int:
        _check_table(table)
        with self.connect(read_only=True) as connection:
            return connection.execute(
                f"SELECT count(*) FROM {table} WHERE model = ? AND partition_date = ?",
                [model, partition_date],
            ).fetchone()[0]


def typed_batch(
    connection: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Mapping[str, Any]]
) -> pa.Table:
    """`rows` as an Arrow table typed by `table`'s own schema (its `created_at` default left out), so DuckDB can
    `INSERT ... BY NAME SELECT * FROM batch`; a row that does not fit names the table and the column."""
    schema = connection.execute(f"SELECT * EXCLUDE (created_at) FROM {table} LIMIT 0").to_arrow_table().schema
    try:
        return pa.Table.from_pylist([dict(row) for row in rows], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise WarehouseError(
            f"Rows for table {table!r} do not match its schema: column {_bad_column(rows, schema)!r}: "
            f"{error}; nothing of this batch was written."
        ) from error


def dict_rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [description[0] for description in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _bad_column(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> str:
    for field in schema:
        try:
            pa.array([row.get(field.name) for row in rows], type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return field.name
    return "(unknown)"


def _check_table(table: str) -> None:
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"Unknown table {table!r}; expected one of {PARTITIONED_TABLES}")


__all__ = ["INSTRUCTIONS", "RESPONSES", "Warehouse", "WarehouseError"]
