"""Every SQL statement of the dedup stage: embeddings reused per row, the corpus read, one-transaction updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from magpie_dagster.domain.generation.sampling_plan import partition_label
from magpie_dagster.storage.dedup_schema import EMBEDDINGS, NEAREST, PAIRS
from magpie_dagster.storage.leases import Lease
from magpie_dagster.storage.tables import replace_scope
from magpie_dagster.storage.warehouse import Warehouse


@dataclass(frozen=True)
class Corpus:
    ids: list[str]
    partitions: list[str]  # "model|date" of each row
    vectors: np.ndarray


def stored_embeddings(
    warehouse: Warehouse, model: str, partition_date: dt.date, embedder: str
) -> dict[str, tuple[str, np.ndarray]]:
    """conversation_id -> (text hash, vector) already embedded by this embedder."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT conversation_id, text_hash, embedding FROM {EMBEDDINGS} "
            "WHERE model = ? AND partition_date = ? AND embedder = ?",
            [model, partition_date, embedder],
        ).fetchall()
    return {row[0]: (row[1], np.asarray(row[2], dtype=np.float32)) for row in rows}


def replace_embeddings(
    warehouse: Warehouse,
    lease: Lease,
    model: str,
    partition_date: dt.date,
    embedder: str,
    rows: Sequence[tuple[str, str, np.ndarray]],
) -> None:
    """The partition's embeddings become exactly `rows` (conversation_id, text hash, vector)."""
    batch = pa.table(
        {
            "conversation_id": [row[0] for row in rows],
            "model": [model] * len(rows),
            "partition_date": [partition_date] * len(rows),
            "text_hash": [row[1] for row in rows],
            "embedder": [embedder] * len(rows),
            "embedding": pa.array([row[2].tolist() for row in rows], type=pa.list_(pa.float32())),
        }
    )
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        replace_scope(
            connection,
            EMBEDDINGS,
            "model = ? AND partition_date = ? AND embedder = ?",
            [model, partition_date, embedder],
            batch,
        )


def corpus(warehouse: Warehouse, embedder: str) -> Corpus:
    """Every embedded row of the corpus (all models and dates), in first-of-group order."""
    with warehouse.connect(read_only=True) as connection:
        table = connection.execute(
            f"""
            SELECT conversation_id, model || '|' || strftime(partition_date, '%Y-%m-%d') AS partition, embedding
            FROM {EMBEDDINGS} WHERE embedder = ? ORDER BY partition_date, model, conversation_id
            """,
            [embedder],
        ).to_arrow_table()
    embeddings = table.column("embedding").combine_chunks()
    width = len(embeddings[0]) if len(embeddings) else 0
    vectors = embeddings.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, width or 1)
    return Corpus(table.column("conversation_id").to_pylist(), table.column("partition").to_pylist(), vectors)


def stored_nearest(
    warehouse: Warehouse, model: str, partition_date: dt.date
) -> dict[str, tuple[str | None, float]]:
    """conversation_id -> (nearest other row, distance) of every row outside the given partition."""
    with warehouse.connect(read_only=True) as connection:
        rows = connection.execute(
            f"SELECT conversation_id, nearest_conversation_id, min_neighbor_distance FROM {NEAREST} "
            "WHERE NOT (model = ? AND partition_date = ?)",
            [model, partition_date],
        ).fetchall()
    return {row[0]: (row[1], float("inf") if row[2] is None else row[2]) for row in rows}


def write_partition_dedup(
    warehouse: Warehouse,
    lease: Lease,
    *,
    model: str,
    partition_date: dt.date,
    text_hashes: Mapping[str, str],
    corpus_rows: Corpus,
    nearest: Mapping[str, tuple[str | None, float]],
    pairs: Sequence[tuple[str, str, float]],
    metric: str,
    threshold: float,
    embedder: str,
) -> None:
    """Replaces the partition's dedup state and updates older rows whose nearest neighbour changed, atomically."""
    label = partition_label(model, partition_date)
    partition_of = dict(zip(corpus_rows.ids, corpus_rows.partitions, strict=True))
    own = [conversation_id for conversation_id in nearest if partition_of[conversation_id] == label]
    others = [conversation_id for conversation_id in nearest if partition_of[conversation_id] != label]
    new_rows = pa.table(
        {
            "conversation_id": own,
            "model": [model] * len(own),
            "partition_date": [partition_date] * len(own),
            "text_hash": [text_hashes[i] for i in own],
            "nearest_conversation_id": [nearest[i][0] for i in own],
            "min_neighbor_distance": [_finite(nearest[i][1]) for i in own],
            "distance_metric": [metric] * len(own),
            "threshold": [threshold] * len(own),
            "embedder": [embedder] * len(own),
        }
    )
    changed = pa.table(  # noqa: F841 (read by SQL)
        {
            "conversation_id": others,
            "nearest_conversation_id": [nearest[i][0] for i in others],
            "min_neighbor_distance": pa.array([_finite(nearest[i][1]) for i in others], type=pa.float64()),
        }
    )
    new_pairs = pa.table(
        {
            "a_id": [pair[0] for pair in pairs],
            "b_id": [pair[1] for pair in pairs],
            "distance": pa.array([pair[2] for pair in pairs], type=pa.float64()),
            "a_partition": [partition_of[pair[0]] for pair in pairs],
            "b_partition": [partition_of[pair[1]] for pair in pairs],
        }
    )
    with warehouse.transaction() as connection:
        lease.assert_held(connection)
        replace_scope(connection, NEAREST, "model = ? AND partition_date = ?", [model, partition_date], new_rows)
        replace_scope(connection, PAIRS, "a_partition = ? OR b_partition = ?", [label, label], new_pairs)
        connection.execute(
            f"""
            UPDATE {NEAREST} SET nearest_conversation_id = changed.nearest_conversation_id,
                min_neighbor_distance = changed.min_neighbor_distance
            FROM changed WHERE {NEAREST}.conversation_id = changed.conversation_id
            """
        )


def _finite(distance: float) -> float | None:
    return None if not np.isfinite(distance) else float(distance)
