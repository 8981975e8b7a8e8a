"""Table definitions, with the released Magpie datasets' field names where they exist.

An analyst queries these with plain SQL; struct columns (`gen_input_configs`, `gen_response_configs`)
keep the released layout and read with dot notation, e.g. `gen_input_configs.temperature`.
"""

from __future__ import annotations

import re

from magpie_dagster.storage.costs_schema import COST_DDL, ENGINE_CALLS
from magpie_dagster.storage.curation_schema import CURATED, CURATION_DDL, CURATION_RUNS
from magpie_dagster.storage.decontamination_schema import BENCHMARK_PROMPTS, CHECKS, DECONTAMINATION_DDL, HITS
from magpie_dagster.storage.dedup_schema import DEDUP_DDL, EMBEDDINGS, NEAREST, PAIRS
from magpie_dagster.storage.generation_schema import (
    GENERATION_BACKFILLS,
    GENERATION_COLUMNS_ADDED,
    GENERATION_DDL,
    INSTRUCTIONS,
    RESPONSES,
)
from magpie_dagster.storage.lease_schema import LEASES, LEASES_DDL
from magpie_dagster.storage.preference_schema import PREFERENCE, PREFERENCE_DDL
from magpie_dagster.storage.rounds_schema import NIGHT_ROUNDS, ROUNDS_DDL
from magpie_dagster.storage.scorecard_schema import (
    SCORECARD,
    SCORECARD_COLUMNS_ADDED,
    SCORECARD_DDL,
    SECOND_JUDGEMENTS,
    SECOND_JUDGEMENTS_DDL,
)
from magpie_dagster.storage.tagging_schema import (
    ANSWER_TAGS_DDL,
    INSTRUCTION_TAGS_DDL,
    JUDGEMENTS,
    JUDGEMENTS_DDL,
    TAGGER_SCORES,
    TAGGER_SCORES_DDL,
)

PARTITIONED_TABLES = (INSTRUCTIONS, RESPONSES, JUDGEMENTS)
# The warehouse records which schema wrote it; a newer version is refused, a database without it is not ours.
MARKER_TABLE = "magpie_warehouse"
SCHEMA_VERSION = 2  # 2: generated rows carry a fingerprint; every table has a unique key; stage leases

# The key of each table: a second row with the same key cannot be committed, even by accident.
UNIQUE_KEYS = {
    INSTRUCTIONS: ("conversation_id",),
    RESPONSES: ("conversation_id",),
    JUDGEMENTS: ("conversation_id", "tag"),
    EMBEDDINGS: ("conversation_id", "embedder"),
    NEAREST: ("conversation_id",),
    PAIRS: ("a_id", "b_id"),
    BENCHMARK_PROMPTS: ("benchmark", "prompt_index"),
    HITS: ("conversation_id", "benchmark", "method"),
    CHECKS: ("model", "partition_date", "benchmark"),
    CURATED: ("night", "conversation_id"),
    CURATION_RUNS: ("night",),
    PREFERENCE: ("night", "conversation_id"),
    LEASES: ("stage", "partition_key"),
    ENGINE_CALLS: ("call_id",),
    NIGHT_ROUNDS: ("model", "partition_date", "round"),
    SCORECARD: ("night", "model"),
    SECOND_JUDGEMENTS: ("night", "conversation_id", "tag", "second_judge_model"),
    TAGGER_SCORES: ("tag", "judge_model", "prompt_version"),
}
# Tables whose rows record when they were written (`created_at`); an upsert stamps the replacement anew.
STAMPED_TABLES = frozenset(UNIQUE_KEYS) - {PAIRS, LEASES}

DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (
        schema_version INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    *GENERATION_DDL,
    JUDGEMENTS_DDL,
    INSTRUCTION_TAGS_DDL,
    TAGGER_SCORES_DDL,
    *DEDUP_DDL,
    *DECONTAMINATION_DDL,
    *CURATION_DDL,
    *PREFERENCE_DDL,
    LEASES_DDL,
    ROUNDS_DDL,
    SCORECARD_DDL,
    *SCORECARD_COLUMNS_ADDED,
    SECOND_JUDGEMENTS_DDL,
    *COST_DDL,  # after the curated table: the `costs` view reads it
    *GENERATION_COLUMNS_ADDED,
    ANSWER_TAGS_DDL,  # after the columns it reads exist in an older warehouse
)
BACKFILLS = GENERATION_BACKFILLS



def unique_index_ddl(table: str) -> str:
    return f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} ({', '.join(UNIQUE_KEYS[table])})"


def duplicate_keys_query(table: str) -> str:
    """Up to three keys of `table` held by more than one row (a warehouse written before unique keys)."""
    columns = ", ".join(UNIQUE_KEYS[table])
    return f"SELECT {columns}, count(*) AS copies FROM {table} GROUP BY ALL HAVING count(*) > 1 LIMIT 3"


# Every table and view the DDL creates: a database holding only these (and no marker) is an older warehouse.
WAREHOUSE_OBJECTS = frozenset(re.findall(r"CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW) (\w+)", " ".join(DDL)))
