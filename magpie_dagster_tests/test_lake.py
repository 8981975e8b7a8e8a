"""The DuckLake backend's own behaviour on a real PostgreSQL: clear errors that never show the password, the write
lock, and an analyst reading the lake with plain DuckDB SQL (no magpie-dagster code)."""

from __future__ import annotations

import duckdb
import psycopg2
import pytest

from magpie_dagster.storage.errors import WarehouseError
from magpie_dagster.storage.lake import WRITE_LOCK_KEY, _extension_files
from magpie_dagster.storage.schema import UNIQUE_KEYS
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.backends import lake_backend
from magpie_dagster_tests.projects import Project
from magpie_dagster_tests.test_nightly_chain import CATALOGUE, NIGHT, run_night


def test_an_unreachable_catalog_is_named_without_its_password(postgres):
    lake = Warehouse("ducklake:postgres:dbname=magpie host=127.0.0.1 port=1 user=magpie password=s3cret")
    with pytest.raises(WarehouseError) as raised:
        lake.ensure_schema()
    message = str(raised.value)
    assert "DuckLake ducklake:postgres:dbname=magpie host=127.0.0.1 port=1 user=magpie password=***" in message
    assert "Connection refused" in message and "PGPASSWORD" in message and "s3cret" not in message


def test_a_new_lake_without_a_data_path_says_which_setting_is_missing(postgres):
    postgres.query("CREATE DATABASE lake_without_data_path")
    lake = Warehouse(f"ducklake:postgres:dbname=lake_without_data_path host={postgres.host} port={postgres.port} "
                     f"user={postgres.user}")  # fmt: skip
    with pytest.raises(WarehouseError, match="The lake is new: set MAGPIE_LAKE_DATA_PATH"):
        lake.ensure_schema()


def test_a_lake_without_a_postgresql_catalog_is_refused():
    with pytest.raises(WarehouseError, match="needs a PostgreSQL catalog"):
        Warehouse("ducklake:metadata.ducklake")


def test_a_writer_that_holds_the_lock_too_long_is_reported(tmp_path, postgres):
    backend = lake_backend(tmp_path, postgres)
    backend.warehouse().ensure_schema()
    catalog = backend.location.removeprefix("ducklake:postgres:")
    holder = psycopg2.connect(catalog)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [WRITE_LOCK_KEY])
        impatient = backend.warehouse(lock_timeout_s=0.5)
        locked = pytest.raises(WarehouseError, match="stayed locked by another writer for 0 s")
        with locked, impatient.transaction() as connection:
            connection.execute("DELETE FROM instructions")
    finally:
        holder.close()
    with backend.warehouse(lock_timeout_s=5).transaction() as connection:  # the holder's death freed it
        connection.execute("DELETE FROM instructions")


def test_an_analyst_reads_the_lake_with_plain_duckdb_sql(tmp_path, postgres):
    backend = lake_backend(tmp_path, postgres)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    assert all(result.success for result in run_night(Project(catalogue, backend, NIGHT)))
    analyst = duckdb.connect()
    for extension in _extension_files():  # offline; with network: INSTALL ducklake; INSTALL postgres
        analyst.execute(f"LOAD '{extension}'")
    analyst.execute(f"ATTACH '{backend.location}' AS magpie (READ_ONLY)")
    analyst.execute("USE magpie")
    kept = analyst.execute("SELECT count(*) FROM curated_rows WHERE night = ? AND drop_reason IS NULL", [NIGHT])
    assert kept.fetchone()[0] == 4
    tags = analyst.execute("SELECT count(*) FROM instruction_tags WHERE task_category IS NOT NULL").fetchone()[0]
    assert tags == analyst.execute("SELECT count(*) FROM instructions WHERE drop_reason IS NULL").fetchone()[0] > 0
    with pytest.raises(duckdb.Error, match="read-only|read only"):
        analyst.execute("DELETE FROM instructions")


def test_compact_merges_a_nights_small_commits_and_keeps_every_row(tmp_path, postgres, monkeypatch, capsys):
    backend = lake_backend(tmp_path, postgres)
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(CATALOGUE)
    assert all(result.success for result in run_night(Project(catalogue, backend, NIGHT)))
    tables = ("instructions", "responses", "judgements", "dedup_results", "curated_rows", "preference_pairs")

    def contents() -> dict[str, list]:
        with backend.warehouse().connect(read_only=True) as connection:
            return {table: sorted(map(repr, connection.execute(f"SELECT * FROM {table}").fetchall()))
                    for table in tables}  # fmt: skip

    before = contents()
    for variable, value in backend.environment().items():
        monkeypatch.setenv(variable, value)
    from magpie_dagster.cli import main as cli

    assert cli.main(["compact", "--keep-days", "0"]) == 0
    printed = capsys.readouterr().out
    _, files_after = (int(n) for n in printed.split("data files ")[1].split(",")[0].split(" -> "))
    snapshots_before, snapshots_after = (int(n) for n in printed.split("snapshots ")[1].split(" (")[0].split(" -> "))
    assert "password" not in printed and printed.startswith("compacted DuckLake ducklake:postgres:dbname=lake_")
    assert snapshots_before > 20 and snapshots_after == 1, printed
    # Rows inlined in the catalog are written out and small files merged: at most one file per table remains.
    assert files_after <= len(UNIQUE_KEYS) + 1, printed
    assert contents() == before


def test_compact_refuses_a_duckdb_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAGPIE_WAREHOUSE", str(tmp_path / "magpie.duckdb"))
    from magpie_dagster.cli import main as cli

    assert cli.main(["compact"]) == 2
    assert "is a DuckDB file: it is checkpointed at every write" in capsys.readouterr().err
