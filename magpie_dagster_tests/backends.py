"""The two warehouse backends every chain test runs on: the DuckDB file and a DuckLake on a real PostgreSQL."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.storage.warehouse import Warehouse
from magpie_dagster_tests.postgres import Postgres

_LAKE_NUMBERS = itertools.count()
# Runs a test that asks for a backend on the DuckDB file only. For tests of orchestration (rounds, sensors, the
# night gate, exports) whose storage calls a test of the same module already makes on DuckLake: the suite runs
# the lake where the storage differs, not twice for every night's logic (it was a quarter of the suite's time).
FILE_ONLY = pytest.mark.parametrize("new_backend", ["file"], indirect=True)


@dataclass(frozen=True)
class Backend:
    name: str
    location: str
    lake_data_path: str | None
    exports_path: Path

    def warehouse(self, **options: float) -> Warehouse:
        return Warehouse(self.location, lake_data_path=self.lake_data_path, exports_path=self.exports_path, **options)

    def definitions(self, catalogue: Path, engines=None, embedder=None) -> dg.Definitions:
        return build_definitions(
            catalogue,
            self.location,
            engines,
            embedder,
            lake_data_path=self.lake_data_path,
            exports_path=self.exports_path,
        )

    def environment(self) -> dict[str, str]:
        """What `magpie-dagster` and `dagster` read to use this warehouse."""
        environment = {"MAGPIE_WAREHOUSE": self.location, "MAGPIE_EXPORTS": str(self.exports_path)}
        if self.lake_data_path:
            environment["MAGPIE_LAKE_DATA_PATH"] = self.lake_data_path
        return environment


def file_backend(root: Path) -> Backend:
    return Backend("file", str(root / "data" / "magpie.duckdb"), None, root / "data" / "exports")


def lake_backend(root: Path, server: Postgres) -> Backend:
    """A new, empty lake: its own catalog database on `server`, its data files under `root`."""
    database = f"lake_{next(_LAKE_NUMBERS)}_{abs(hash(root)) % 10**8}"
    server.query(f"CREATE DATABASE {database}")
    catalog = f"dbname={database} host={server.host} port={server.port} user={server.user}"
    return Backend("lake", f"ducklake:postgres:{catalog}", str(root / "lake-data"), root / "data" / "exports")
