"""Tables of the dedup stage and the `dedup_results` view with the released column names.

`instruction_embeddings` keeps each usable instruction's vector once (keyed by text hash and embedder) so
re-runs and later stages reuse it; `dedup_nearest` each row's nearest other row; `dedup_pairs` every
near-duplicate pair (distance under the threshold). The view derives `repeat_count` and
`min_similar_conversation_id` (first = earliest date, then model, then id) from them.
"""

from __future__ import annotations

EMBEDDINGS = "instruction_embeddings"
NEAREST = "dedup_nearest"
PAIRS = "dedup_pairs"
DEDUP_VIEW = "dedup_results"

DEDUP_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {EMBEDDINGS} (
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        text_hash VARCHAR NOT NULL,
        embedder VARCHAR NOT NULL,
        embedding FLOAT[] NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {NEAREST} (
        conversation_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        partition_date DATE NOT NULL,
        text_hash VARCHAR NOT NULL,
        nearest_conversation_id VARCHAR,
        min_neighbor_distance DOUBLE,
        distance_metric VARCHAR NOT NULL,
        threshold DOUBLE NOT NULL,
        embedder VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {PAIRS} (
        a_id VARCHAR NOT NULL,
        b_id VARCHAR NOT NULL,
        distance DOUBLE NOT NULL,
        a_partition VARCHAR NOT NULL,
        b_partition VARCHAR NOT NULL
    )
    """,
    f"""
    CREATE OR REPLACE VIEW {DEDUP_VIEW} AS
    WITH sides AS (
        SELECT a_id AS id, b_id AS other FROM {PAIRS} UNION ALL SELECT b_id, a_id FROM {PAIRS}
    ),
    members AS (
        SELECT conversation_id AS id, conversation_id AS member FROM {NEAREST}
        UNION ALL SELECT id, other FROM sides
    ),
    firsts AS (
        SELECT m.id,
            arg_min(m.member, strftime(n.partition_date, '%Y-%m-%d') || '|' || n.model || '|' || n.conversation_id)
                AS min_similar_conversation_id,
            count(*) - 1 AS repeat_count
        FROM members m JOIN {NEAREST} n ON n.conversation_id = m.member
        GROUP BY m.id
    ),
    exact AS (
        SELECT conversation_id,
            count(*) OVER (PARTITION BY text_hash) - 1 AS exact_duplicate_count,
            first_value(conversation_id) OVER (
                PARTITION BY text_hash ORDER BY partition_date, model, conversation_id
            ) AS first_exact_conversation_id
        FROM {NEAREST}
    )
    SELECT n.conversation_id, n.model, n.partition_date, n.min_neighbor_distance, n.nearest_conversation_id,
        f.repeat_count, f.min_similar_conversation_id, e.exact_duplicate_count, e.first_exact_conversation_id,
        n.distance_metric, n.threshold, n.embedder
    FROM {NEAREST} n
    JOIN firsts f ON f.id = n.conversation_id
    JOIN exact e ON e.conversation_id = n.conversation_id
    """,
)
