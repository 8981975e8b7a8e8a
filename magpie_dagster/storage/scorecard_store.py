"""Every SQL statement of the scorecard: the night's facts read from the other stages' tables, the scorecard
replaced in one transaction, and the nights before it read back for the drift check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from magpie_dagster.domain.scorecard.metrics import ALL_MODELS, TRENDED
from magpie_dagster.domain.scorecard.scorecard import NightFacts
from magpie_dagster.storage import curation_store, preference_store
from magpie_dagster.storage.dedup_schema import EMBEDDINGS, NEAREST, PAIRS
from magpie_dagster.storage.generation_schema import INSTRUCTIONS, RESPONSES
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.scorecard_schema import SCORECARD, SECOND_JUDGEMENTS
from magpie_dagster.storage.tables import replace_scope, typed_batch, upsert
from magpie_dagster.storage.tagging_schema import JUDGEMENTS, TAGGER_SCORES
from magpie_dagster.storage.warehouse import Warehouse

_GENERATED = f"""
SELECT model, 'instruction' AS stage, drop_reason FROM {INSTRUCTIONS}
WHERE partition_date = $night AND list_contains($models, model)
UNION ALL
SELECT model, 'response', drop_reason FROM {RESPONSES} WHERE partition_date = $night AND list_contains($models, model)
"""
_JUDGEMENTS = f"""
SELECT model, tag, status FROM {JUDGEMENTS} WHERE partition_date = $night AND list_contains($models, model)
"""
# The held-out scores of the taggers whose judgements the night holds (the embedding classifier's).
_HELD_OUT = f"""
SELECT DISTINCT j.model, s.field, s.accuracy, s.constant_accuracy
FROM {JUDGEMENTS} j JOIN {TAGGER_SCORES} s USING (tag, judge_model, prompt_version)
WHERE j.partition_date = $night AND list_contains($models, j.model) AND j.status = 'ok'
"""
# Each deduplicated instruction of the night: has it a near (or exact) duplicate from the same night, or from one
# before? Later nights do not count: the scorecard of a night does not change when later nights are added.
_DUPLICATES = f"""
WITH mine AS (
    SELECT conversation_id, model, text_hash FROM {NEAREST}
    WHERE partition_date = $night AND list_contains($models, model)
),
others AS (
    SELECT a_id AS id, b_id AS other FROM {PAIRS} UNION ALL SELECT b_id, a_id FROM {PAIRS}
    UNION ALL SELECT m.conversation_id, n.conversation_id FROM mine m
        JOIN {NEAREST} n ON n.text_hash = m.text_hash AND n.conversation_id <> m.conversation_id
)
SELECT m.model,
    coalesce(bool_or(o.partition_date = $night), false) AS within_night,
    coalesce(bool_or(o.partition_date < $night), false) AS against_corpus
FROM mine m LEFT JOIN others s ON s.id = m.conversation_id LEFT JOIN {NEAREST} o ON o.conversation_id = s.other
GROUP BY m.conversation_id, m.model
"""


def night_facts(
    warehouse: Warehouse, night: dt.date, models: Sequence[str], second_judge_model: str | None = None
) -> NightFacts:
    parameters = {"night": night, "models": list(models)}
    with warehouse.connect(read_only=True) as connection:
        generated, judgements, duplicates, held_out = (
            pl.from_arrow(connection.execute(sql, parameters).to_arrow_table())
            for sql in (_GENERATED, _JUDGEMENTS, _DUPLICATES, _HELD_OUT)
        )
    return NightFacts(
        generated=generated,
        judgements=judgements,
        duplicates=duplicates,
        answered=curation_store.night_rows(warehouse, night, models),
        curated=curation_store.curated_subset(warehouse, night, models),
        pairs=preference_store.night_pairs(warehouse, night),
        second_opinions=second_opinions(warehouse, night, models, second_judge_model),
        held_out=held_out,
    )


def second_opinions(
    warehouse: Warehouse, night: dt.date, models: Sequence[str], second_judge_model: str | None
) -> pl.DataFrame:
    """The night's stored second opinions from this second judge (none without one)."""
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(
            f"SELECT conversation_id, model, tag, first_label, second_label, status FROM {SECOND_JUDGEMENTS} "
            "WHERE night = ? AND second_judge_model = ? AND list_contains(?, model) ORDER BY ALL",
            [night, second_judge_model or "", list(models)],
        ).to_arrow_table()
    return pl.from_arrow(table)


def write_second_opinions(warehouse: Warehouse, lease: Lease, night: dt.date, rows: Sequence[dict[str, Any]]) -> None:
    """Adds (or replaces, a failed one judged again) the second judge's opinions of the night."""
    if not rows:
        return
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        batch = typed_batch(connection, SECOND_JUDGEMENTS, [{**row, "night": night} for row in rows])
        upsert(connection, SECOND_JUDGEMENTS, batch)


def embeddings(warehouse: Warehouse, conversation_ids: Sequence[str], embedder: str) -> dict[str, np.ndarray]:
    """conversation_id -> its stored vector under `embedder` (instructions without one are left out)."""
    wanted = pa.table({"conversation_id": pa.array(list(dict.fromkeys(conversation_ids)), pa.string())})
    with warehouse.connect(read_only=True) as connection:
        connection.register("wanted", wanted)
        table = connection.execute(
            f"SELECT e.conversation_id, e.embedding FROM {EMBEDDINGS} e JOIN wanted USING (conversation_id) "
            "WHERE e.embedder = ?",
            [embedder],
        ).to_arrow_table()
    if table.num_rows == 0:
        return {}
    vectors = table.column("embedding").combine_chunks()
    matrix = np.asarray(vectors.flatten(), dtype=np.float32).reshape(table.num_rows, -1)
    return dict(zip(table.column("conversation_id").to_pylist(), matrix, strict=True))


def replace_scorecard(warehouse: Warehouse, lease: Lease, night: dt.date, rows: Sequence[dict[str, Any]]) -> None:
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        batch = typed_batch(connection, SCORECARD, [{**row, "night": night} for row in rows])
        replace_scope(connection, SCORECARD, "night = ?", [night], batch)


def earlier_totals(warehouse: Warehouse, night: dt.date, nights: int) -> list[dict[str, float | None]]:
    """The trended numbers of the night's totals row for the `nights` nights before it that have a scorecard."""
    with warehouse.connect(read_only=True) as connection:
        cursor = connection.execute(
            f"SELECT {', '.join(TRENDED)} FROM {SCORECARD} WHERE model = ? AND night < ? ORDER BY night DESC LIMIT ?",
            [ALL_MODELS, night, nights],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def night_scorecard(warehouse: Warehouse, night: dt.date) -> list[dict[str, Any]]:
    """The night's scorecard rows, models first and the totals ('*') last; [] before the scorecard ran."""
    with warehouse.connect(read_only=True) as connection:
        cursor = connection.execute(
            f"SELECT * EXCLUDE (night, created_at) FROM {SCORECARD} WHERE night = ? ORDER BY model = ?, model",
            [night, ALL_MODELS],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
