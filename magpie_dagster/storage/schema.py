"""Table definitions, with the released Magpie datasets' field names where they exist.

An analyst queries these with plain SQL; struct columns (`gen_input_configs`, `gen_response_configs`)
keep the released layout and read with dot notation, e.g. `gen_input_configs.temperature`.
"""

from __future__ import annotations

import re

from magpie_dagster.storage.curation_schema import CURATION_DDL
from magpie_dagster.storage.dedup_schema import DEDUP_DDL
from magpie_dagster.storage.tag_schema import INSTRUCTION_TAGS_DDL, JUDGEMENTS, JUDGEMENTS_DDL

INSTRUCTIONS = "instructions"
RESPONSES = "responses"

PARTITIONED_TABLES = (INSTRUCTIONS, RESPONSES, JUDGEMENTS)
# The warehouse records which schema wrote it; a newer version is refused, a database without it is not ours.
MARKER_TABLE = "magpie_warehouse"
SCHEMA_VERSION = 1

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
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    JUDGEMENTS_DDL,
    INSTRUCTION_TAGS_DDL,
    *DEDUP_DDL,
    *CURATION_DDL,
)

# Every table and view the DDL creates: a database holding only these (and no marker) is an older warehouse.
WAREHOUSE_OBJECTS = frozenset(re.findall(r"CREATE (?:TABLE IF NOT EXISTS|OR REPLACE VIEW) (\w+)", " ".join(DDL)))
