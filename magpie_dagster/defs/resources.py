"""One resource per external thing: the catalogue file, the DuckDB warehouse, the generation engines."""

from __future__ import annotations

import faulthandler
from functools import cached_property

import dagster as dg
from pydantic import PrivateAttr

from magpie_dagster.domain.catalogue import Catalogue, GeneratorEntry, load_catalogue
from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.engine_config import Connection
from magpie_dagster.domain.tagging.config import RewardModelEntry
from magpie_dagster.engines.factory import open_engine
from magpie_dagster.engines.reward_model import RewardModelClient
from magpie_dagster.storage.warehouse import Warehouse


class CatalogueResource(dg.ConfigurableResource):
    """The model catalogue YAML; the same file the partitions were built from."""

    path: str

    @cached_property
    def catalogue(self) -> Catalogue:
        return load_catalogue(self.path)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse every stage writes to: a DuckDB file (default `data/magpie.duckdb`) or, for writers on
    several machines, `ducklake:postgres:<conninfo>` with `lake_data_path` (see `storage/lake.py`).

    `lease_ttl_s`: how long a run on another machine that stopped renewing its partition's lease (killed,
    preempted) keeps it; on the same machine a lease is free as soon as its process is gone.
    `read_copy`: whether finished stages refresh `<name>.read.duckdb` beside a warehouse file, the copy analysts
    keep open while nights write (`storage/read_copy.py`); off saves a copy of the file per stage.
    """

    path: str
    lake_data_path: str | None = None
    exports_path: str | None = None
    lock_timeout_s: float = 120.0
    lease_ttl_s: float = 600.0
    read_copy: bool = True

    def get(self) -> Warehouse:
        return Warehouse(
            self.path,
            lock_timeout_s=self.lock_timeout_s,
            lake_data_path=self.lake_data_path,
            exports_path=self.exports_path,
        )


class EngineResource(dg.ConfigurableResource):
    """Opens the engine a catalogue entry asks for, once per run, and closes them when the run ends.

    API keys are read here, at run time, through Dagster's `EnvVar` from the variable the entry names
    (`api_key_env`); they are passed to the client and never stored, logged or put in metadata.
    """

    _open_engines: dict[str, GenerationEngine] = PrivateAttr(default_factory=dict)
    _reward_models: dict[RewardModelEntry, RewardModelClient] = PrivateAttr(default_factory=dict)

    def engine_for(self, entry: GeneratorEntry) -> GenerationEngine:
        return self.engine_named(entry.key, entry)

    def engine_named(self, label: str, connection: Connection) -> GenerationEngine:
        """The engine for `connection`, opened once per run; `label` is the entry's key, `judge` or `safety`."""
        if label not in self._open_engines:
            self._open_engines[label] = self._open(label, connection)
        return self._open_engines[label]

    def reward_model(self, entry: RewardModelEntry) -> RewardModelClient:
        """The catalogue's reward model client (its replicas, timeout, concurrency, API key), opened once per run."""
        if entry not in self._reward_models:
            self._reward_models[entry] = RewardModelClient(
                entry.base_url,
                entry.model,
                api_key=api_key_for("reward", entry),
                timeout_s=entry.timeout_s,
                max_concurrency=entry.max_concurrency,
            )
        return self._reward_models[entry]

    def _open(self, label: str, connection: Connection) -> GenerationEngine:
        # Engines run native code: if it crashes, the Python stack lands in the step's compute log.
        faulthandler.enable()
        return open_engine(connection, api_key=api_key_for(label, connection), label=label)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for engine in [*self._open_engines.values(), *self._reward_models.values()]:
            engine.close()
        self._open_engines.clear()
        self._reward_models.clear()


def api_key_for(label: str, connection: object) -> str | None:
    variable = getattr(connection, "api_key_env", None)
    if not variable:
        return None
    value = dg.EnvVar(variable).get_value()
    if not value:
        raise dg.Failure(
            description=(
                f"Catalogue entry {label!r} reads its API key from the environment variable {variable}, "
                "which is not set. Export it before starting Dagster, or remove `api_key_env` from the entry."
            )
        )
    return value


def command_api_key(label: str, connection: object) -> str | None:
    """`api_key_for` outside a run (CLI commands): an unset variable is a ValueError the CLI prints."""
    try:
        return api_key_for(label, connection)
    except dg.Failure as missing:
        raise ValueError(missing.description) from missing


class EmbedderResource(dg.ConfigurableResource):
    """Loads the sentence-transformers model once per run (loading costs seconds; embedding is batched)."""

    _loaded: dict = PrivateAttr(default_factory=dict)

    def get(self, model: str, batch_size: int):
        from magpie_dagster.engines.embeddings import SentenceEmbedder

        if model not in self._loaded:
            self._loaded[model] = SentenceEmbedder(model, batch_size=batch_size)
        return self._loaded[model]
