"""Deleting a model key's rows from every table, on request (`magpie-dagster prune --model KEY`)."""

from __future__ import annotations

from magpie_dagster.storage.curation_schema import CURATED
from magpie_dagster.storage.decontamination_schema import CHECKS, HITS
from magpie_dagster.storage.dedup_schema import EMBEDDINGS, NEAREST, PAIRS
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.preference_schema import PREFERENCE
from magpie_dagster.storage.rounds_schema import NIGHT_ROUNDS
from magpie_dagster.storage.tagging_schema import JUDGEMENTS
from magpie_dagster.storage.warehouse import Warehouse

_BY_MODEL = (
    INSTRUCTIONS, RESPONSES, JUDGEMENTS, EMBEDDINGS, NEAREST, HITS, CHECKS, CURATED, PREFERENCE, NIGHT_ROUNDS
)


def prune_model(warehouse: Warehouse, model_key: str) -> dict[str, int]:
    """Deletes the key's rows (and the near-duplicate pairs that name them) in one transaction; table -> rows.

    Other rows whose nearest neighbour was one of them keep that distance until their partition's dedup runs
    again; nights already curated keep their decisions for other models' rows.
    """
    warehouse.ensure_schema()
    removed: dict[str, int] = {}
    with warehouse.transaction() as connection:
        prefix = f"{model_key}|"
        removed[PAIRS] = connection.execute(
            f"DELETE FROM {PAIRS} WHERE starts_with(a_partition, ?) OR starts_with(b_partition, ?)", [prefix, prefix]
        ).fetchone()[0]
        for table in _BY_MODEL:
            removed[table] = connection.execute(f"DELETE FROM {table} WHERE model = ?", [model_key]).fetchone()[0]
    return removed
