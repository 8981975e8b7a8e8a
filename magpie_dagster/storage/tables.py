"""Statements every stage's store runs on a connection: an upsert by the table's unique key, a scope replaced by
exactly a batch, rows typed by the table's own schema, whether a table exists, rows as dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.lake import LAKE_ALIAS
from magpie_dagster.storage.schema import STAMPED_TABLES, UNIQUE_KEYS


def upsert(connection: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Inserts `rows`, each replacing the stored row with its key.

    In a file, DuckDB refuses to delete a key and insert it again in one transaction (its unique indexes check
    eagerly), so replacement is `INSERT OR REPLACE` on the table's unique key. A lake has no unique keys:
    there the rows with the incoming keys are deleted, then the rows inserted (under the lake's write lock).
    """
    stamped = ", current_timestamp AS created_at" if table in STAMPED_TABLES else ""  # a replaced row is new
    connection.register("incoming", rows)
    try:
        if _in_lake(connection):
            connection.execute(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM incoming WHERE {_same_key(table)})")
            connection.execute(f"INSERT INTO {table} BY NAME SELECT *{stamped} FROM incoming")
        else:
            connection.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT *{stamped} FROM incoming")
    finally:
        connection.unregister("incoming")


def replace_scope(connection: duckdb.DuckDBPyConnection, table: str, scope: str, params: list, rows: pa.Table) -> int:
    """The rows of `table` matching `scope` (SQL over the table's columns) become exactly `rows`: they are
    upserted, then the scope's rows whose key is not among them deleted (in this order: DuckDB 1.5 refuses an
    upsert after a DELETE on the same table in one transaction). Returns how many rows were deleted."""
    upsert(connection, table, rows)
    connection.register("incoming", rows)
    try:
        deleted = connection.execute(
            f"DELETE FROM {table} WHERE ({scope}) AND NOT EXISTS (SELECT 1 FROM incoming WHERE {_same_key(table)})",
            params,
        ).fetchone()[0]
    finally:
        connection.unregister("incoming")
    return int(deleted)


def _same_key(table: str) -> str:
    return " AND ".join(f"incoming.{column} = {table}.{column}" for column in UNIQUE_KEYS[table])


def _in_lake(connection: duckdb.DuckDBPyConnection) -> bool:
    return connection.execute("SELECT current_database()").fetchone()[0] == LAKE_ALIAS


def typed_batch(connection: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
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


def has_table(connection: duckdb.DuckDBPyConnection, table: str) -> bool:
    """An older warehouse lacks the tables added since until its next run (read-only commands must not fail)."""
    return bool(
        connection.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()[0]
    )


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
