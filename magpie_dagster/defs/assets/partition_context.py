"""What every generation asset needs for its partition: the catalogue entry, an engine, a chat format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from magpie_dagster.defs.partitions import model_and_date
from magpie_dagster.defs.resources import CatalogueResource, EngineResource, WarehouseResource
from magpie_dagster.domain.catalogue import GeneratorEntry
from magpie_dagster.domain.chat_templates import ChatFormat, ChatTemplateError
from magpie_dagster.domain.completion import EngineError, GenerationEngine
from magpie_dagster.domain.generator_setup import chat_format_for
from magpie_dagster.storage.warehouse import Warehouse, WarehouseError


@dataclass(frozen=True)
class PartitionRun:
    model_key: str
    partition_date: dt.date
    entry: GeneratorEntry
    engine: GenerationEngine
    chat_format: ChatFormat
    store: Warehouse
    table: str

    @property
    def label(self) -> str:
        return f"{self.model_key}|{self.partition_date.isoformat()}"

    @contextmanager
    def engine_errors_as_failures(self) -> Iterator[None]:
        """Engine and storage failures become a `Failure` that names the partition and what to do."""
        try:
            yield
        except (EngineError, WarehouseError, ChatTemplateError) as error:
            raise dg.Failure(
                description=f"Partition {self.label} ({self.table}): {error}",
                metadata={"partition": self.label, "table": self.table},
            ) from error


def open_partition_run(
    context: dg.AssetExecutionContext,
    catalogue: CatalogueResource,
    warehouse: WarehouseResource,
    engines: EngineResource,
    table: str,
) -> PartitionRun:
    """Opens the engine before clearing the partition's old rows, so a failed start loses nothing."""
    model_key, partition_date = model_and_date(context)
    label = f"{model_key}|{partition_date.isoformat()}"
    entry = catalogue.catalogue.entry(model_key)
    try:
        engine = engines.engine_for(entry)
        chat_format = chat_format_for(entry, engine, partition_date)
        store = warehouse.get()
        store.ensure_schema()
        removed = store.clear_partition(table, model_key, partition_date)
    except (EngineError, WarehouseError, ChatTemplateError) as error:
        raise dg.Failure(description=f"Partition {label} ({table}): {error}") from error
    if removed:
        context.log.info(f"[{label}] replaced {removed} earlier rows of {table}")
    return PartitionRun(model_key, partition_date, entry, engine, chat_format, store, table)
