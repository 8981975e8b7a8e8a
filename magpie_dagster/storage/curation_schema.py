"""Tables of the nightly curation stage: per-row decisions of the recipe, and the preference pairs."""

from __future__ import annotations

CURATED = "curated_rows"
PREFERENCE = "preference_pairs"
CURATION_RUNS = "curation_runs"

CURATION_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {CURATED} (
        night DATE NOT NULL,
        recipe VARCHAR NOT NULL,
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        drop_reason VARCHAR,
        subset_rank BIGINT,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {PREFERENCE} (
        night DATE NOT NULL,
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        instruction VARCHAR NOT NULL,
        responses VARCHAR[] NOT NULL,
        rewards DOUBLE[] NOT NULL,
        chosen STRUCT(role VARCHAR, content VARCHAR)[] NOT NULL,
        rejected STRUCT(role VARCHAR, content VARCHAR)[] NOT NULL,
        chosen_reward DOUBLE NOT NULL,
        rejected_reward DOUBLE NOT NULL,
        reward_model VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        response_models VARCHAR[],
        chosen_model VARCHAR,
        rejected_model VARCHAR
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {CURATION_RUNS} (
        night DATE NOT NULL,
        recipe VARCHAR NOT NULL,
        skipped_rules VARCHAR NOT NULL,
        preference_ties INTEGER,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    # Which model wrote each response of a pair (responders); pairs written before leave them NULL.
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS response_models VARCHAR[]",
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS chosen_model VARCHAR",
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS rejected_model VARCHAR",
)
