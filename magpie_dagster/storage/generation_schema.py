"""Tables of the generation stage: the instructions (Magpie step 1) and their responses (step 2), with the released
Magpie datasets' field names; struct columns keep the released layout and read with dot notation."""

from __future__ import annotations

INSTRUCTIONS = "instructions"
RESPONSES = "responses"

GENERATION_DDL = (
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
)
# Columns added since the first release; they run after every table is created.
GENERATION_COLUMNS_ADDED = (
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
)
# (check, fix) pairs run after the DDL: the fix only when the check counts rows, so an up-to-date warehouse
# opens without a write.
GENERATION_BACKFILLS = (
    (
        f"SELECT count(*) FROM {RESPONSES} WHERE instruction_id IS NULL OR response_model IS NULL",
        f"UPDATE {RESPONSES} SET instruction_id = coalesce(instruction_id, conversation_id), "
        "response_model = coalesce(response_model, model) WHERE instruction_id IS NULL OR response_model IS NULL",
    ),
)
