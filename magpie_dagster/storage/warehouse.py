"""The warehouse every stage writes to: one DuckDB file (the default) or a DuckLake for many writers.

DuckDB allows one writer process per file, so no connection is held while a model generates: each write
opens the file, runs one short transaction and closes it, retrying while another process holds the lock; within a
stage (`kept_open`) the file stays open while calls follow each other closely (`storage/parking.py`). Within a
process, connections are taken one at a time (a lease's heartbeat thread shares the file). A lake
(`storage/lake.py`) is attached once per process, and its write transactions take the lake's write lock.

The warehouse records its schema version; a location that is not this project's warehouse (a directory,
another kind of file, someone else's database, a newer schema) is refused with a message that names it,
before any write.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path

import duckdb

from magpie_dagster.domain.exports.publish import night_directory
from magpie_dagster.storage import parking
from magpie_dagster.storage.errors import WarehouseError, WarehouseWriteFailed, first_line
from magpie_dagster.storage.lake import lake_cursor, parse_lake, write_lock
from magpie_dagster.storage.parking import PROCESS_LOCK
from magpie_dagster.storage.schema import (
    BACKFILLS,
    DDL,
    MARKER_TABLE,
    SCHEMA_VERSION,
    UNIQUE_KEYS,
    WAREHOUSE_OBJECTS,
    duplicate_keys_query,
    unique_index_ddl,
)

_LOCK_MESSAGES = ("Could not set lock", "Conflicting lock")
DEFAULT_EXPORTS = Path("data") / "exports"


class Warehouse:
    """`location` is a DuckDB file path, or `ducklake:postgres:<conninfo>` for a lake (whose new data files go
    to `lake_data_path`). Exports go to `exports_path`, by default `exports/` beside the file (`data/exports`
    for a lake)."""

    def __init__(
        self,
        location: str | Path,
        lock_timeout_s: float = 120.0,
        *,
        lake_data_path: str | None = None,
        exports_path: str | Path | None = None,
    ) -> None:
        self.lake = parse_lake(str(location), lake_data_path)
        self.path = None if self.lake else Path(location)
        self.lock_timeout_s = lock_timeout_s
        self.label = self.lake.label if self.lake else str(self.path)
        self.exports_root = Path(exports_path or (self.path.parent / "exports" if self.path else DEFAULT_EXPORTS))

    def export_directory(self, night: dt.date) -> Path:
        """Where a night's export files are published (`dataset_export` writes them; the run summary names it)."""
        return night_directory(self.exports_root, night)

    @property
    def read_copy_path(self) -> Path | None:
        """`data/magpie.duckdb` -> `data/magpie.read.duckdb`, the copy analysts query (`storage/read_copy.py`);
        a lake has none."""
        return self.path.with_name(self.path.stem + ".read.duckdb") if self.path else None

    def exists(self) -> bool:
        """Whether anything was ever written (a lake is attached, and created, on first use)."""
        return self.lake is not None or self.path.exists()

    @contextmanager
    def connect(self, read_only: bool = False, *, reusable: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits (with backoff) while another process holds the write lock. Not
        `reusable` when the block opens the file itself: closing any descriptor of a file drops this process's
        lock on it (POSIX record locks), so the connection must not serve another call."""
        if self.lake:
            with PROCESS_LOCK, self._failures_named():
                cursor = lake_cursor(self.lake)
                try:
                    yield cursor
                finally:
                    cursor.close()
            return
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
        with PROCESS_LOCK:
            connection, opened_read_only = parking.take(self.path, read_only) or (self._open(read_only), read_only)
            served = False
            try:
                with self._failures_named():
                    yield connection
                served = True
            finally:
                if not (served and reusable and parking.park(self.path, connection, opened_read_only)):
                    with self._failures_named():
                        connection.close()  # the checkpoint on close writes the file too

    def kept_open(self) -> AbstractContextManager[None]:
        """Within the block, calls that follow each other closely share one connection (a lake's is shared anyway)."""
        return nullcontext() if self.lake else parking.kept_open(self.path)

    @contextmanager
    def _failures_named(self) -> Iterator[None]:
        """A failed write (a full disk fails the commit) becomes a `WarehouseWriteFailed` naming the warehouse."""
        try:
            yield
        except (duckdb.IOException, duckdb.TransactionException) as error:
            raise WarehouseWriteFailed(
                f"Writing the warehouse {self.label} failed: {first_line(error)}. If the disk is full, free "
                "space and run again: the transaction in flight was rolled back, earlier ones are kept."
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction: committed when the block ends, rolled back (nothing written) if it raises."""
        with self.exclusive() as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                yield connection
                connection.execute("COMMIT")
            except duckdb.ConstraintException as error:
                _rollback(connection)
                raise WarehouseError(
                    f"Nothing was written to {self.label}: {first_line(error)} (a row with this key is already "
                    "stored; two writers of one partition?)"
                ) from None
            except BaseException:
                _rollback(connection)
                raise

    @contextmanager
    def exclusive(self, *, reusable: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writing connection no other writer uses meanwhile (a lake's write lock, a file's own lock), for
        statements that commit themselves (DuckLake's maintenance calls refuse an explicit transaction)."""
        lake_lock = write_lock(self.lake, self.lock_timeout_s) if self.lake else nullcontext()
        with PROCESS_LOCK, lake_lock, self.connect(reusable=reusable) as connection:
            yield connection

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as error:
                if not any(message in str(error) for message in _LOCK_MESSAGES):
                    raise _unreadable(self.path, error) from None
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"The warehouse {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_s:.0f} s. Stop the other process (a `duckdb` shell or a "
                        "notebook holding the file open: query the read copy "
                        f"{self.read_copy_path} instead, which never blocks a night) or raise the lock timeout."
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def check(self) -> None:
        """Without writing anything: refuses a location that is not this project's warehouse (or a newer one)."""
        if self.path and not self.path.exists() and not self.path.is_symlink():
            return
        with self.connect(read_only=True) as connection:
            _check_ownership(connection, self.label)

    def ensure_schema(self) -> None:
        """Creates the tables, views and unique keys, and upgrades an older warehouse in place, in one transaction."""
        with self.transaction() as connection:
            _check_ownership(connection, self.label)
            for statement in DDL:
                connection.execute(statement)
            for check, fix in BACKFILLS:
                if connection.execute(check).fetchone()[0]:
                    connection.execute(fix)
            if not self.lake:  # a lake has no indexes: its writes replace rows by key under the write lock
                self._add_unique_keys(connection)
            connection.execute(f"DELETE FROM {MARKER_TABLE} WHERE schema_version < ?", [SCHEMA_VERSION])
            if connection.execute(f"SELECT count(*) FROM {MARKER_TABLE}").fetchone()[0] == 0:
                connection.execute(f"INSERT INTO {MARKER_TABLE} (schema_version) VALUES (?)", [SCHEMA_VERSION])

    def _add_unique_keys(self, connection: duckdb.DuckDBPyConnection) -> None:
        indexed = {name for (name,) in connection.execute("SELECT table_name FROM duckdb_indexes()").fetchall()}
        for table in UNIQUE_KEYS.keys() - indexed:  # scanned once, when the key is added
            duplicates = connection.execute(duplicate_keys_query(table)).fetchall()
            if duplicates:
                raise WarehouseError(
                    f"The warehouse {self.label} holds duplicate rows in table {table} (written by an older "
                    f"magpie-dagster), so its unique key ({', '.join(UNIQUE_KEYS[table])}) cannot be added: "
                    f"e.g. {duplicates[0][:-1]} x{duplicates[0][-1]}. Nothing was changed. Delete the extra "
                    f"copies (`{duplicate_keys_query(table)}` lists them) or start a new warehouse file."
                )
            connection.execute(unique_index_ddl(table))


def _check_ownership(connection: duckdb.DuckDBPyConnection, label: str) -> None:
    """A warehouse records its schema version; a database without one that holds tables of its own is someone
    else's, and one written by a newer schema is refused, so nothing is written where it does not belong. A file
    that opens but cannot be read (damaged past its header) is refused too."""
    try:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = 'main'"
            ).fetchall()
        }
        version = (
            connection.execute(f"SELECT max(schema_version) FROM {MARKER_TABLE}").fetchone()[0]
            if MARKER_TABLE in tables
            else None
        )
    except duckdb.Error as error:
        raise _unreadable(label, error) from None
    if MARKER_TABLE in tables:
        if version is not None and version > SCHEMA_VERSION:
            raise WarehouseError(
                f"The warehouse {label} has schema version {version}, newer than this magpie-dagster's "
                f"{SCHEMA_VERSION}: upgrade magpie-dagster, or point MAGPIE_WAREHOUSE at another file."
            )
        return
    foreign = sorted(tables - WAREHOUSE_OBJECTS)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise WarehouseError(
            f"{label} is a DuckDB database this project did not create (it holds {shown}); nothing was written "
            "to it. Point MAGPIE_WAREHOUSE at a new file, e.g. data/magpie.duckdb."
        )


def _unreadable(label: str | Path, error: duckdb.Error) -> WarehouseError:
    return WarehouseError(
        f"Cannot open the warehouse {label}: {first_line(error)}. It is not a DuckDB database this project can "
        "read (another kind of file, truncated or damaged), and it was left as it is: restore it from a backup or "
        "point MAGPIE_WAREHOUSE at a new file."
    )


def _rollback(connection: duckdb.DuckDBPyConnection) -> None:
    """Rolls back what is in flight; after a failed COMMIT there is nothing left to roll back."""
    with suppress(duckdb.Error):
        connection.execute("ROLLBACK")
