"""DuckLake: the warehouse for many writers on many machines (a PostgreSQL catalog, Parquet data files).

Analysts attach the same lake with plain DuckDB and query the same tables and views. Writers differ from the
single file in two ways, both handled here:
- Attaching costs a catalog round trip, so each process attaches once and hands out cursors.
- DuckLake settles concurrent commits optimistically and refuses two transactions that delete from the same
  table (every upsert deletes the rows it replaces), and it has no unique keys to stop two lease rows. So write
  transactions take one PostgreSQL advisory lock on the catalog database: writers generate in parallel and
  commit one at a time. A commit is one batch (milliseconds to a second), so the queue is short; a writer that
  dies frees the lock when its connection drops.
"""

from __future__ import annotations

import os
import shutil
import site
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from magpie_dagster.storage.errors import WarehouseError, first_line, redacted

LAKE_PREFIX = "ducklake:postgres:"
LAKE_ALIAS = "magpie_lake"
# pg_advisory_lock's key for "writing this lake" (any 64-bit number, the same in every writer).
WRITE_LOCK_KEY = 0x6D61677069650001
_EXTENSION_VERSION = f"v{duckdb.__version__}"
_REACH_HINT = " Check that PostgreSQL runs there, the database exists (createdb) and PGPASSWORD (or ~/.pgpass) is set."
_INSTALL_HINT = 'pip install -e ".[lake]" (duckdb-extension-ducklake, duckdb-extension-postgres, psycopg2-binary)'


@dataclass(frozen=True)
class LakeLocation:
    """`catalog` is a libpq connection string (`dbname=magpie host=db port=5432 user=magpie`); the password
    comes from PGPASSWORD or ~/.pgpass, like any PostgreSQL client. `data_path` is where new Parquet files go
    (a directory, or object storage DuckDB can write); the lake remembers it after the first attach."""

    catalog: str
    data_path: str | None = None

    @property
    def label(self) -> str:
        return "DuckLake " + LAKE_PREFIX + redacted(self.catalog)

    def attach_sql(self, alias: str = LAKE_ALIAS) -> str:
        options = f" (DATA_PATH '{_quoted(self.data_path)}')" if self.data_path else ""
        return f"ATTACH '{_quoted(LAKE_PREFIX + self.catalog)}' AS {alias}{options}"


def parse_lake(location: str, data_path: str | None) -> LakeLocation | None:
    """A `ducklake:postgres:<conninfo>` warehouse setting as a lake; anything else (a file path) as None."""
    if not location.startswith("ducklake:"):
        return None
    if not location.startswith(LAKE_PREFIX):
        raise WarehouseError(
            f"MAGPIE_WAREHOUSE={location.split(':')[0]}:{location.split(':')[1]}:... is not supported: a lake "
            "written by several processes needs a PostgreSQL catalog, e.g. "
            "MAGPIE_WAREHOUSE='ducklake:postgres:dbname=magpie host=127.0.0.1 user=magpie'."
        )
    if data_path and "://" not in data_path:
        data_path = str(Path(data_path).resolve())
    return LakeLocation(location.removeprefix(LAKE_PREFIX).strip(), data_path)


# One attached lake per (process, lake): cursors share it; the process lock in warehouse.py serialises them.
_ATTACHED: dict[tuple[int, LakeLocation], duckdb.DuckDBPyConnection] = {}
_LOCK_CONNECTIONS: dict[tuple[int, str], object] = {}
_CACHE_LOCK = threading.Lock()


def lake_cursor(lake: LakeLocation) -> duckdb.DuckDBPyConnection:
    """A cursor on this process's attachment of `lake`, with the lake as its default database."""
    key = (os.getpid(), lake)
    with _CACHE_LOCK:
        if key not in _ATTACHED:
            _ATTACHED[key] = _attach(lake)
        cursor = _ATTACHED[key].cursor()
    cursor.execute(f"USE {LAKE_ALIAS}")
    return cursor


@contextmanager
def write_lock(lake: LakeLocation, timeout_s: float) -> Iterator[None]:
    """Holds the lake's write lock (a PostgreSQL session advisory lock) while the block runs."""
    connection = _lock_connection(lake)
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [WRITE_LOCK_KEY])
            if cursor.fetchone()[0]:
                break
            if time.monotonic() >= deadline:
                raise WarehouseError(
                    f"The {lake.label} stayed locked by another writer for {timeout_s:.0f} s. A writer holds the "
                    "lock only while it commits one batch: look for a stuck process in pg_locks "
                    f"(locktype 'advisory', objid {WRITE_LOCK_KEY & 0xFFFFFFFF}) or raise the lock timeout."
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [WRITE_LOCK_KEY])


def _lock_connection(lake: LakeLocation):
    try:
        import psycopg2
    except ImportError:
        raise WarehouseError(f"Writing a DuckLake needs psycopg2 for its write lock: {_INSTALL_HINT}") from None
    key = (os.getpid(), lake.catalog)
    with _CACHE_LOCK:
        connection = _LOCK_CONNECTIONS.get(key)
        if connection is None or connection.closed:
            try:
                # keepalives: a writer on a machine that vanished loses the lock within a minute.
                connection = psycopg2.connect(
                    lake.catalog, keepalives=1, keepalives_idle=20, keepalives_interval=5, keepalives_count=4
                )
            except psycopg2.Error as error:
                reason = first_line(error).rstrip(".")
                raise WarehouseError(f"Cannot reach the catalog of the {lake.label}: {reason}.{_REACH_HINT}") from None
            connection.autocommit = True
            _LOCK_CONNECTIONS[key] = connection
    return connection


def _attach(lake: LakeLocation) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for extension in _extension_files():
        connection.execute(f"LOAD '{_quoted(str(extension))}'")
    try:
        connection.execute(lake.attach_sql())
    except duckdb.Error as error:
        connection.close()
        hint = (
            " The lake is new: set MAGPIE_LAKE_DATA_PATH to the directory (or bucket) for its data files."
            if "DATA_PATH" in str(error)
            else _REACH_HINT
        )
        raise WarehouseError(f"Cannot attach the {lake.label}: {first_line(error)}.{hint}") from None
    return connection


def _extension_files() -> list[Path]:
    """The ducklake and postgres extensions from their PyPI wheels (no network needed). The postgres wheel's
    file must be loaded under the extension's real name, postgres_scanner, so it is copied once to a cache."""
    found = []
    for package, name, real_name in (
        ("duckdb_extension_ducklake", "ducklake", "ducklake"),
        ("duckdb_extension_postgres", "postgres", "postgres_scanner"),
    ):
        shipped = next(
            (
                Path(root) / package / "extensions" / _EXTENSION_VERSION / f"{name}.duckdb_extension"
                for root in site.getsitepackages() + [site.getusersitepackages()]
                if (Path(root) / package / "extensions" / _EXTENSION_VERSION / f"{name}.duckdb_extension").exists()
            ),
            None,
        )
        if shipped is None:
            raise WarehouseError(
                f"The DuckLake warehouse needs the DuckDB extension {name!r} for duckdb {duckdb.__version__}, "
                f"which is not installed: {_INSTALL_HINT}."
            )
        found.append(shipped if name == real_name else _cached_copy(shipped, f"{real_name}.duckdb_extension"))
    return found


def _cached_copy(source: Path, name: str) -> Path:
    cache = Path(tempfile.gettempdir()) / f"magpie-duckdb-extensions-{os.getuid()}" / _EXTENSION_VERSION
    target = cache / name
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{name}.{os.getpid()}"
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    return target


def _quoted(text: str) -> str:
    return text.replace("'", "''")
