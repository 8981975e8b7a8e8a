"""The table of the preference stage: a night's chosen/rejected pairs with every sampled answer's reward."""

from __future__ import annotations

PREFERENCE = "preference_pairs"

PREFERENCE_DDL = (
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
    # Which model wrote each response of a pair (responders); pairs written before leave them NULL.
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS response_models VARCHAR[]",
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS chosen_model VARCHAR",
    f"ALTER TABLE {PREFERENCE} ADD COLUMN IF NOT EXISTS rejected_model VARCHAR",
)
