"""What the asset tests share: a test module's catalogue in a file on a warehouse backend, materialised by Dagster
with the fake engine, and queried with SQL (the `project` fixture in conftest.py builds one per test)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.resources import EmbedderResource
from magpie_dagster_tests.backends import Backend
from magpie_dagster_tests.fakes import FakeEmbedderResource, FakeEngineResource


@dataclass(frozen=True)
class Project:
    catalogue: Path
    backend: Backend
    night: dt.date
    embedder: EmbedderResource | None = None  # the fake embedder unless given (the real one: EmbedderResource())

    def definitions(self, engines: FakeEngineResource | None = None) -> dg.Definitions:
        embedder = self.embedder or FakeEmbedderResource()
        return self.backend.definitions(self.catalogue, engines or FakeEngineResource(), embedder)

    def materialise(
        self,
        model: str,
        engines: FakeEngineResource | None = None,
        raise_on_error: bool = True,
        assets: Sequence[str] | None = None,
        night: dt.date | None = None,
        instance: dg.DagsterInstance | None = None,
        run_config: dict | None = None,
    ) -> dg.ExecuteInProcessResult:
        """`magpie_job` (or only `assets`) for one model's partition, in a new ephemeral instance unless given one."""
        return (
            self.definitions(engines)
            .resolve_job_def("magpie_job")
            .execute_in_process(
                partition_key=model_date_key(model, night or self.night),
                instance=instance or dg.DagsterInstance.ephemeral(),
                asset_selection=[dg.AssetKey(asset) for asset in assets] if assets else None,
                raise_on_error=raise_on_error,
                run_config=run_config,
            )
        )

    def curate(
        self, engines: FakeEngineResource | None = None, night: dt.date | None = None, instance=None
    ) -> dg.ExecuteInProcessResult:
        """`nightly_curation_job` for a night (the project's by default)."""
        return (
            self.definitions(engines)
            .resolve_job_def("nightly_curation_job")
            .execute_in_process(
                partition_key=(night or self.night).isoformat(), instance=instance or dg.DagsterInstance.ephemeral()
            )
        )

    def query(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        with self.backend.warehouse().connect(read_only=True) as connection:
            return connection.execute(sql, list(parameters)).fetchall()
