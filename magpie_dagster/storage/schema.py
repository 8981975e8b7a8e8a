"""Table definitions, with the released Magpie datasets' field names where they exist.

An analyst queries these with plain SQL; struct columns (`gen_input_configs`, `gen_response_configs`)
keep the released layout and read with dot notation, e.g. `gen_input_configs.temperature`.
"""

from __future__ import annotations

import re

from magpie_dagster.storage.cost_schema import COST_DDL, ENGINE_CALLS
from magpie_dagster.storage.curation_schema import CURATED, CURATION_DDL, CURATION_RUNS, PREFERENCE
from magpie_dagster.storage.dedup_schema import DEDUP_DDL, EMBEDDINGS, NEAREST, PAIRS
from magpie_dagster.storage.lease_schema import LEASES, LEASES_DDL
from magpie_dagster.storage.round_schema import NIGHT_ROUNDS, ROUNDS_DDL
from magpie_dagster.storage.tag_schema import ANSWER_TAGS_DDL, INSTRUCTION_TAGS_DDL, JUDGEMENTS, JUDGEMENTS_DDL

INSTRUCTIONS = "instructions"
RESPONSES = "responses"

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
    CURATED: ("night", "conversation_id"),
    CURATION_RUNS: ("night",),
    PREFERENCE: ("night", "conversation_id"),
    LEASES: ("stage", "partition_key"),
    ENGINE_CALLS: ("call_id",),
    NIGHT_ROUNDS: ("model", "partition_date", "round"),
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
    f"""
    CREATE TABLE IF NOT EXISTS {INSTRUCTIONS} (
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        sample_index INTEGER NOT NULL,
        system_prompt_name VARCHAR,
        instruction VARCHAR NOT NULL,
        raw_instruction VARCHAR NOT NULL,
        sanitiser_rules VARCHAR[] NOT NULL,
        drop_reason VARCHAR,
        gen_input_configs STRUCT(
            temperature DOUBLE, top_p DOUBLE, max_tokens INTEGER, input_generator VARCHAR,
            seed BIGINT, pre_query_template VARCHAR
        ) NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        finish_reason VARCHAR NOT NULL,
        fingerprint VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {RESPONSES} (
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        instruction VARCHAR NOT NULL,
        response VARCHAR NOT NULL,
        conversations STRUCT("from" VARCHAR, "value" VARCHAR)[] NOT NULL,
        turns INTEGER NOT NULL,
        turn_stop_reason VARCHAR,
        drop_reason VARCHAR,
        finish_reason VARCHAR NOT NULL,
        gen_response_configs STRUCT(
            prompt VARCHAR, temperature DOUBLE, top_p DOUBLE, repetition_penalty DOUBLE, max_tokens INTEGER,
            stop_tokens VARCHAR[], output_generator VARCHAR, engine VARCHAR
        ) NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        fingerprint VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        reasoning VARCHAR,
        reasoning_closed BOOLEAN,
        instruction_id VARCHAR,
        response_model VARCHAR
    )
    """,
    JUDGEMENTS_DDL,
    INSTRUCTION_TAGS_DDL,
    *DEDUP_DDL,
    *CURATION_DDL,
    LEASES_DDL,
    ROUNDS_DDL,
    *COST_DDL,  # after the curated table: the `costs` view reads it
    # A version-1 warehouse gains the fingerprint columns; its rows (fingerprint NULL) are regenerated once.
    f"ALTER TABLE {INSTRUCTIONS} ADD COLUMN IF NOT EXISTS fingerprint VARCHAR",
    f"ALTER TABLE {RESPONSES} ADD COLUMN IF NOT EXISTS fingerprint VARCHAR",
    # Reasoning models' thinking, apart from the answer; rows written before keep NULL (no reasoning split off).
    f"ALTER TABLE {RESPONSES} ADD COLUMN IF NOT EXISTS reasoning VARCHAR",
    f"ALTER TABLE {RESPONSES} ADD COLUMN IF NOT EXISTS reasoning_closed BOOLEAN",
    # Responders: an answer names the instruction it answers and the model that wrote it (`BACKFILLS` fills the
    # rows written before, each its own model's answer to its own instruction).
    f"ALTER TABLE {RESPONSES} ADD COLUMN IF NOT EXISTS instruction_id VARCHAR",
    f"ALTER TABLE {RESPONSES} ADD COLUMN IF NOT EXISTS response_model VARCHAR",
    ANSWER_TAGS_DDL,  # after the columns it reads exist in an older warehouse
)
# (check, fix) pairs run after the DDL: the fix only when the check counts rows, so an up-to-date warehouse
# opens without a write.
BACKFILLS = (
    (
        f"SELECT count(*) FROM {RESPONSES} WHERE instruction_id IS NULL OR response_model IS NULL",
        f"UPDATE {RESPONSES} SET instruction_id = coalesce(instruction_id, conversation_id), "
        "response_model = coalesce(response_model, model) WHERE instruction_id IS NULL OR response_model IS NULL",
    ),
)


def unique_index_ddl(table: str) -> str:
    return f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} ({', '.join(UNIQUE_KEYS[table])})"


def duplicate_keys_query(table: str) -> str:
    """Up to three keys of `table` held by more than one row (a warehouse written before unique keys)."""
    columns = ", ".join(UNIQUE_KEYS[table])
    return f"SELECT {columns}, count(*) AS copies FROM {table} GROUP BY ALL HAVING count(*) > 1 LIMIT 3"


# Every table and view the DDL creates: a database holding only these (and no marker) is an older warehouse.
WAREHOUSE_OBJECTS = frozenset(re.findall(r"CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW) (\w+)", " ".join(DDL)))
