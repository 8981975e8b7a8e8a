"""Every SQL statement of the nightly curation stage: the rows to curate, the recipe's decisions, the subset."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence

import polars as pl

from magpie_dagster.storage.curation_schema import CURATED, CURATION_RUNS
from magpie_dagster.storage.decontamination_schema import CHECKS, HITS
from magpie_dagster.storage.dedup_schema import DEDUP_VIEW
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import replace_scope, typed_batch, upsert
from magpie_dagster.storage.tagging_schema import ANSWER_TAGS_VIEW, INSTRUCTION_TAGS_VIEW
from magpie_dagster.storage.usable import usable
from magpie_dagster.storage.warehouse import Warehouse

# One row per usable answer: `conversation_id` is the answer's (the instruction's own id when its model answered
# it), `instruction_id` the instruction's; instruction tags and dedup are the instruction's, safety and reward the
# answer's own.
_NIGHT_ROWS = f"""
SELECT r.conversation_id, i.conversation_id AS instruction_id, r.response_model, i.model, i.partition_date,
    i.sample_index, i.instruction, r.response, r.reasoning, r.reasoning_closed, r.conversations, r.turns,
    t.intent, t.knowledge, t.difficulty, t.difficulty_generator, t.input_quality, t.quality_explanation,
    t.quality_generator, t.task_category, t.other_task_category, t.task_category_generator, t.language,
    a.safety, a.safety_categories, a.safety_generator, a.instruct_reward, a.reward_model,
    d.min_neighbor_distance, d.repeat_count, d.min_similar_conversation_id, d.exact_duplicate_count,
    k.checked AS contamination_checked, coalesce(h.methods, []) AS contamination_methods,
    h.benchmarks AS contaminated_by, i.gen_input_configs, r.gen_response_configs,
    i.fingerprint AS instruction_fingerprint, r.fingerprint AS response_fingerprint
FROM {INSTRUCTIONS} i
JOIN {RESPONSES} r ON r.instruction_id = i.conversation_id AND r.model = i.model
    AND r.partition_date = i.partition_date AND {usable('r')}
LEFT JOIN {INSTRUCTION_TAGS_VIEW} t ON t.conversation_id = i.conversation_id AND t.model = i.model
    AND t.partition_date = i.partition_date
LEFT JOIN {ANSWER_TAGS_VIEW} a ON a.conversation_id = r.conversation_id AND a.model = r.model
    AND a.partition_date = r.partition_date
LEFT JOIN {DEDUP_VIEW} d ON d.conversation_id = i.conversation_id
LEFT JOIN (SELECT DISTINCT model, partition_date, true AS checked FROM {CHECKS}) k ON k.model = i.model
    AND k.partition_date = i.partition_date
LEFT JOIN (
    SELECT conversation_id, list_sort(list(DISTINCT method)) AS methods,
        string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) AS benchmarks
    FROM {HITS} GROUP BY 1
) h ON h.conversation_id = i.conversation_id
WHERE i.partition_date = $night AND {usable('i')} AND list_contains($models, i.model)
ORDER BY i.model, i.sample_index, r.response_model
"""


def night_rows(warehouse: Warehouse, night: dt.date, models: Sequence[str]) -> pl.DataFrame:
    """Every answered, usable row of the night from the given models, with its tags and dedup columns."""
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(_NIGHT_ROWS, {"night": night, "models": list(models)}).to_arrow_table()
    return pl.from_arrow(table)


def rows_of_other_models(warehouse: Warehouse, models: Sequence[str], night: dt.date | None = None) -> dict[str, int]:
    """model key -> instructions stored for keys not in `models` (renamed or removed ones), of one night or all."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT model, count(*) FROM {INSTRUCTIONS} "
            "WHERE ($night IS NULL OR partition_date = $night) AND NOT list_contains($models, model) "
            "GROUP BY 1 ORDER BY 1",
            {"night": night, "models": list(models)},
        ).fetchall()
    return dict(rows)


def replace_decisions(
    warehouse: Warehouse,
    lease: Lease,
    night: dt.date,
    recipe: str,
    decisions: pl.DataFrame,
    skipped_rules: Mapping[str, str],
) -> None:
    columns = decisions.select("conversation_id", "model", "drop_reason", "subset_rank")
    batch = columns.with_columns(pl.lit(night).alias("night"), pl.lit(recipe).alias("recipe")).to_arrow()
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        replace_scope(connection, CURATED, "night = ?", [night], batch)
        run = {"night": night, "recipe": recipe, "skipped_rules": json.dumps(dict(skipped_rules))}
        upsert(connection, CURATION_RUNS, typed_batch(connection, CURATION_RUNS, [run]))


def unusable_rows(warehouse: Warehouse, night: dt.date, models: Sequence[str]) -> dict[str, int]:
    """Rows of the night that never reached curation, by stage and drop reason ("response: looping" -> n)."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"""
            SELECT stage || ': ' || drop_reason, count(*) FROM (
                SELECT 'instruction' AS stage, model, partition_date, drop_reason FROM {INSTRUCTIONS}
                UNION ALL SELECT 'response', model, partition_date, drop_reason FROM {RESPONSES}
            ) WHERE partition_date = $night AND list_contains($models, model) AND drop_reason IS NOT NULL
            GROUP BY ALL ORDER BY 2 DESC, 1
            """,
            {"night": night, "models": list(models)},
        ).fetchall()
    return dict(rows)


def curation_summary(warehouse: Warehouse, night: dt.date) -> tuple[str, dict[str, int], dict[str, str], int]:
    """(recipe, drop reason -> rows, skipped rule -> why, preference ties) of the night's last curation."""
    with warehouse.connect(read_only=True) as connection:
        run = connection.execute(
            f"SELECT recipe, skipped_rules, coalesce(preference_ties, 0) FROM {CURATION_RUNS} WHERE night = ?", [night]
        ).fetchone()
        counts = connection.execute(
            f"SELECT coalesce(drop_reason, 'kept'), count(*) FROM {CURATED} WHERE night = ? GROUP BY 1", [night]
        ).fetchall()
    if run is None:
        return "", dict(counts), {}, 0
    return run[0], dict(counts), json.loads(run[1]), run[2]


def curated_subset(warehouse: Warehouse, night: dt.date, models: Sequence[str]) -> pl.DataFrame:
    """The night's kept rows, every column, in subset order."""
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(
            f"""
            SELECT rows.*, c.subset_rank FROM ({_NIGHT_ROWS}) rows
            JOIN {CURATED} c ON c.conversation_id = rows.conversation_id AND c.night = $night
            WHERE {usable('c')} ORDER BY c.subset_rank
            """,
            {"night": night, "models": list(models)},
        ).to_arrow_table()
    return pl.from_arrow(table)
