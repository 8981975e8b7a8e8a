"""The warehouse table (or view) each stage's asset writes, with its columns, so the UI can show an asset's
table and columns before it is first materialised."""

from __future__ import annotations

from functools import cache

import duckdb

from magpie_dagster.domain import stages
from magpie_dagster.storage.curation_schema import CURATED
from magpie_dagster.storage.decontamination_schema import CONTAMINATION_VIEW
from magpie_dagster.storage.dedup_schema import DEDUP_VIEW
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.preference_schema import PREFERENCE
from magpie_dagster.storage.rounds_schema import NIGHT_ROUNDS
from magpie_dagster.storage.schema import DDL
from magpie_dagster.storage.scorecard_schema import SCORECARD
from magpie_dagster.storage.tagging_schema import INSTRUCTION_TAGS_VIEW

STAGE_TABLES = {
    stages.RAW_INSTRUCTIONS: INSTRUCTIONS,
    stages.RESPONSES: RESPONSES,
    stages.INSTRUCTION_TAGS: INSTRUCTION_TAGS_VIEW,
    stages.DEDUP_RESULTS: DEDUP_VIEW,
    stages.BENCHMARK_CONTAMINATION: CONTAMINATION_VIEW,
    stages.CURATED_SUBSET: CURATED,
    stages.PREFERENCE_PAIRS: PREFERENCE,
    stages.NIGHT_SCORECARD: SCORECARD,
    stages.NIGHT_ROUNDS: NIGHT_ROUNDS,
}  # dataset_export writes files, not a table


def table_columns(table: str) -> tuple[tuple[str, str], ...]:
    """(name, SQL type) of each column of a stage's table."""
    return _stage_table_columns()[table]


@cache
def _stage_table_columns() -> dict[str, tuple[tuple[str, str], ...]]:
    """Every stage table's columns, read once from the DDL run in an in-memory database."""
    with duckdb.connect() as connection:
        for statement in DDL:
            connection.execute(statement)
        return {
            table: tuple(connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())
            for table in STAGE_TABLES.values()
        }
