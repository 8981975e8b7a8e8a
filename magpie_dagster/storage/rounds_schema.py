"""The rounds of each model's night that has a row target: what each planned, kept and spent, and why it stopped.

One row per (model, partition_date, round). A round is planned (its `planned_samples`, and the system prompt
weights its new samples are drawn with) before it runs, and closed after the night is curated:

    SELECT model, round, planned_samples, curated, kept, yield, stop_reason FROM night_rounds
    WHERE partition_date = current_date ORDER BY model, round;
"""

from __future__ import annotations

NIGHT_ROUNDS = "night_rounds"

ROUNDS_DDL = f"""
CREATE TABLE IF NOT EXISTS {NIGHT_ROUNDS} (
    model VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    round INTEGER NOT NULL,
    planned_samples INTEGER NOT NULL,
    prompt_weights VARCHAR,
    target_rows INTEGER NOT NULL,
    curated INTEGER,
    kept INTEGER,
    yield DOUBLE,
    tokens BIGINT,
    cost_usd DOUBLE,
    category_shares VARCHAR,
    stop_reason VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""
