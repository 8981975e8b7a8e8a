"""The cost ledger: one row per engine call, never replaced, and the `costs` view over it.

Rows are appended (a fresh `call_id` each), so a failed attempt and the run that resumed it both stay: the
ledger says what was spent, the generation tables what survived. `costs` adds up each partition (model x date)
and sets it beside the rows its night's curated subset kept from it:

    SELECT model, sum(cost_usd) / sum(curated_rows) AS usd_per_curated_row
    FROM costs WHERE partition_date >= current_date - 7 GROUP BY model;
"""

from __future__ import annotations

from magpie_dagster.storage.curation_schema import CURATED
from magpie_dagster.storage.usable import usable

ENGINE_CALLS = "engine_calls"
COSTS_VIEW = "costs"

# What a set of ledger rows spent, over every attempt: the `costs` view per partition, asset metadata per stage.
SPEND_COLUMNS = """
    count(*) AS calls,
    count(*) FILTER (WHERE error IS NOT NULL) AS failed_calls,
    count(DISTINCT run_id || '/' || attempt) AS attempts,
    coalesce(sum(requests), 0) AS requests,
    coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(completion_tokens), 0) AS completion_tokens,
    coalesce(sum(seconds), 0) AS engine_seconds,
    coalesce(sum(cost_usd), 0) AS cost_usd
"""

COST_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {ENGINE_CALLS} (
        call_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        attempt INTEGER NOT NULL,
        stage VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        engine_label VARCHAR NOT NULL,
        engine VARCHAR NOT NULL,
        engine_model VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        requests INTEGER NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        seconds DOUBLE NOT NULL,
        cost_usd DOUBLE NOT NULL,
        error VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE OR REPLACE VIEW {COSTS_VIEW} AS
    WITH spent AS (
        SELECT
            model,
            partition_date,
            {SPEND_COLUMNS}
        FROM {ENGINE_CALLS}
        GROUP BY model, partition_date
    ),
    kept AS (
        SELECT model, night AS partition_date, count(*) FILTER (WHERE {usable()}) AS curated_rows
        FROM {CURATED}
        GROUP BY model, night
    )
    SELECT
        spent.*,
        coalesce(kept.curated_rows, 0) AS curated_rows,
        spent.cost_usd / nullif(kept.curated_rows, 0) AS cost_per_curated_row
    FROM spent LEFT JOIN kept USING (model, partition_date)
    """,
)
