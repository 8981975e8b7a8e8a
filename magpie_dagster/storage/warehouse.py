"""The DuckDB file every stage writes to.

DuckDB allows one writer process per file, so no connection is held while a model generates: each write
opens the file, runs one short transaction and closes it, retrying while another process holds the lock.
A partition is replaced by deleting its rows once at the start and appending finished batches, so a
re-run never touches another partition and a crash loses at most the batch in flight.

The file records its schema version; a path that is not this project's warehouse (a directory, another kind
of file, someone else's database, a newer schema) is refused with a message that names it, before any write.
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

from magpie_dagster.storage.schema import (
    DDL,
    INSTRUCTIONS,
    MARKER_TABLE,
    PARTITIONED_TABLES,
    RESPONSES,
    SCHEMA_VERSION,
    WAREHOUSE_OBJECTS,
)

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
        if self.path.is_dir():
            raise WarehouseError(
                f"The warehouse path {self.path} is a directory: set MAGPIE_WAREHOUSE to a file, e.g. "
                "data/magpie.duckdb"
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise WarehouseError(
                f"The warehouse {self.path} does not exist yet: run `magpie-dagster run` (or materialise a "
                "partition) first, or set MAGPIE_WAREHOUSE to the file you mean."
            )
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as error:
                if not any(message in str(error) for message in _LOCK_MESSAGES):
                    raise _unreadable(self.path, error) from None
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
        except (duckdb.IOException, duckdb.TransactionException) as error:  # a full disk fails the commit
            raise WarehouseError(
                f"Writing the warehouse {self.path} failed: {_first_line(error)}. If the disk is full, free space "
                "and run again: the transaction in flight was rolled back, earlier ones are kept."
            ) from None
        finally:
            connection.close()

    def check(self) -> None:
        """Without writing anything: refuses a path that is not this project's warehouse (or a newer one)."""
        if not self.path.exists() and not self.path.is_symlink():
            return
        with self.connect(read_only=True) as connection:
            _check_ownership(connection, self.path)

    def ensure_schema(self) -> None:
        with self.connect() as connection:
            _check_ownership(connection, self.path)
            for statement in DDL:
                connection.execute(statement)
            if connection.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()[0] == 0:
                connection.execute(f"INSERT INTO {MARKER_TABLE} (schema_version) VALUES (?)", [SCHEMA_VERSION])

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


def _check_ownership(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A warehouse records its schema version; a database without one that holds tables of its own is someone
    else's, and one written by a newer schema is refused, so nothing is written where it does not belong. A file
    that opens but cannot be read (damaged past its header) is refused too."""
    try:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        version = (
            connection.execute(f"SELECT max(schema_version) FROM {MARKER_TABLE}").fetchone()[0]
            if MARKER_TABLE in tables
            else None
        )
    except duckdb.Error as error:
        raise _unreadable(path, error) from None
    if MARKER_TABLE in tables:
        if version is not None and version > SCHEMA_VERSION:
            raise WarehouseError(
                f"The warehouse {path} has schema version {version}, newer than this magpie-dagster's "
                f"{SCHEMA_VERSION}: upgrade magpie-dagster, or point MAGPIE_WAREHOUSE at another file."
            )
        return
    foreign = sorted(tables - WAREHOUSE_OBJECTS)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise WarehouseError(
            f"{path} is a DuckDB database this project did not create (it holds {shown}); nothing was written "
            "to it. Point MAGPIE_WAREHOUSE at a new file, e.g. data/magpie.duckdb."
        )


def _unreadable(path: Path, error: duckdb.Error) -> WarehouseError:
    return WarehouseError(
        f"Cannot open the warehouse {path}: {_first_line(error)}. It is not a DuckDB database this project can "
        "read (another kind of file, truncated or damaged), and it was left as it is: restore it from a backup or "
        "point MAGPIE_WAREHOUSE at a new file."
    )


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _check_table(table: str) -> None:
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"Unknown table {table!r}; expected one of {PARTITIONED_TABLES}")


__all__ = ["INSTRUCTIONS", "RESPONSES", "Warehouse", "WarehouseError"]
