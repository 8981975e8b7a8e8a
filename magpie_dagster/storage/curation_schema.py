"""Tables of the nightly curation stage: the recipe's decision on each row, and each night's run."""

from __future__ import annotations

CURATED = "curated_rows"
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
    CREATE TABLE IF NOT EXISTS {CURATION_RUNS} (
        night DATE NOT NULL,
        recipe VARCHAR NOT NULL,
        skipped_rules VARCHAR NOT NULL,
        preference_ties INTEGER,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
)
