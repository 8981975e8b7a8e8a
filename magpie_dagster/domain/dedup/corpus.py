"""Corpus-wide near-duplicate state, updated one partition at a time, and the same from scratch.

State: each row's nearest other row (id, distance) and the set of near-duplicate pairs (distance < threshold).
From it follow the released columns: `min_neighbor_distance`, `repeat_count` (near-duplicates of the row) and
`min_similar_conversation_id` (the first row among the row and its near-duplicates, where first means earliest
partition date, then model key, then conversation id, so the result never depends on the order partitions ran).

Adding or replacing a partition compares only its rows with the corpus (one pass of |P| x |corpus|); older rows
change only where a new row is now their nearest, or where their nearest belonged to the replaced rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from magpie_dagster.domain.dedup.approximate import build_index, search_approximate
from magpie_dagster.domain.dedup.neighbours import DEFAULT_THRESHOLD, NeighbourSearch, search

# A partition of more than this many rows finds its neighbours through a faiss IVF index built over the corpus
# instead of the exact blocked search; pairs then come from each row's 8 nearest. The index pays only for large
# partitions: it costs ~55 us per corpus row to build, and the reverse direction (each corpus row's nearest
# partition row) stays exact. bench/dedup_crossover.py, 100k corpus rows: 2k partition rows 2.3 s exact vs 7.0 s
# faiss, 20k rows 14.2 s vs 14.5 s; the same holds at any corpus size, as both sides grow with it.
APPROXIMATE_ABOVE = 20_000

Nearest = dict[str, tuple[str | None, float]]
Pair = tuple[str, str, float]


@dataclass(frozen=True)
class PartitionUpdate:
    nearest: Nearest  # rows whose nearest neighbour is new or changed (the partition's rows and older ones)
    pairs: list[Pair]  # near-duplicate pairs involving the partition's rows, each once with a < b


def update_for_partition(
    corpus_ids: Sequence[str],
    corpus_vectors: np.ndarray,
    partition_ids: set[str],
    stored_nearest: Mapping[str, tuple[str | None, float]],
    threshold: float = DEFAULT_THRESHOLD,
    approximate_above: int = APPROXIMATE_ABOVE,
) -> PartitionUpdate:
    """`corpus_*` hold every row now in the corpus (the partition's current rows included); `stored_nearest`
    holds the older rows' state with the partition's previous rows already removed."""
    ids = list(corpus_ids)
    position = {conversation_id: index for index, conversation_id in enumerate(ids)}
    query_rows = np.array([position[i] for i in ids if i in partition_ids], dtype=np.int64)
    finder = _finder(corpus_vectors, threshold, approximate=len(query_rows) > approximate_above)
    found = finder(query_rows)
    nearest: Nearest = {}
    for q, row in enumerate(query_rows):
        nearest[ids[row]] = _neighbour(ids, found.query_nearest[q], found.query_distance[q])
    orphaned = []
    for index, conversation_id in enumerate(ids):
        if conversation_id in partition_ids:
            continue
        old_id, old_distance = stored_nearest.get(conversation_id, (None, float("inf")))
        if old_id is not None and old_id not in position:
            orphaned.append(index)  # its nearest row was replaced: look again, against everything
        elif found.corpus_nearest[index] >= 0 and found.corpus_distance[index] < old_distance:
            nearest[conversation_id] = (
                ids[query_rows[found.corpus_nearest[index]]],
                float(found.corpus_distance[index]),
            )
    if orphaned:
        rows = np.array(orphaned, dtype=np.int64)
        again = finder(rows)
        for q, row in enumerate(rows):
            nearest[ids[row]] = _neighbour(ids, again.query_nearest[q], again.query_distance[q])
    pairs = {_ordered(ids[query_rows[int(q)]], ids[int(c)]): float(distance) for q, c, distance in found.pairs}
    return PartitionUpdate(nearest, [(a, b, d) for (a, b), d in sorted(pairs.items())])


def _finder(corpus_vectors: np.ndarray, threshold: float, approximate: bool):
    """Searches corpus rows (by index) against the whole corpus, exactly or through a faiss index."""
    if not approximate:
        return lambda rows: search(corpus_vectors[rows], corpus_vectors, rows, threshold)
    index = build_index(corpus_vectors)

    def approximate_search(rows: np.ndarray) -> NeighbourSearch:
        import faiss

        queries = corpus_vectors[rows]
        forward = search_approximate(index, queries, rows, threshold=threshold)
        if len(rows) == len(corpus_vectors):
            return _whole_corpus(rows, forward)
        # The reverse direction (which query is each corpus row's nearest) is exact: the queries are few.
        reverse = faiss.IndexFlatIP(queries.shape[1])
        reverse.add(np.ascontiguousarray(queries))
        similarity, nearest = reverse.search(np.ascontiguousarray(corpus_vectors), 2)
        distance = np.maximum(2.0 - 2.0 * similarity, 0.0).astype(np.float32)
        own = np.full(len(corpus_vectors), -1)
        own[rows] = np.arange(len(rows))
        distance[nearest == own[:, None]] = np.inf
        pick = np.argmin(distance, axis=1)
        corpus_distance = distance[np.arange(len(distance)), pick]
        corpus_nearest = np.where(np.isfinite(corpus_distance), nearest[np.arange(len(nearest)), pick], -1)
        return NeighbourSearch(forward.nearest, forward.distance, corpus_nearest, corpus_distance, forward.pairs)

    return approximate_search


def _whole_corpus(rows: np.ndarray, forward) -> NeighbourSearch:
    """The partition is the whole corpus (a first night, a recompute): each row's nearest partition row is its
    nearest row, found already; no reverse search."""
    own = np.empty(len(rows), dtype=np.int64)
    own[rows] = np.arange(len(rows))
    corpus_nearest = np.full(len(rows), -1, dtype=np.int64)
    corpus_distance = np.full(len(rows), np.inf, dtype=np.float32)
    found = forward.nearest >= 0
    corpus_nearest[rows[found]] = own[forward.nearest[found]]
    corpus_distance[rows[found]] = forward.distance[found]
    return NeighbourSearch(forward.nearest, forward.distance, corpus_nearest, corpus_distance, forward.pairs)


def full_recompute(
    corpus_ids: Sequence[str], corpus_vectors: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> PartitionUpdate:
    """Every row against every row: the reference the incremental path must equal."""
    return update_for_partition(
        corpus_ids, corpus_vectors, set(corpus_ids), {}, threshold, approximate_above=len(corpus_ids)
    )


@dataclass(frozen=True)
class DedupRow:
    min_neighbor_distance: float | None
    repeat_count: int
    min_similar_conversation_id: str


def summarise(
    order_keys: Mapping[str, tuple], nearest: Mapping[str, tuple[str | None, float]], pairs: Sequence[Pair]
) -> dict[str, DedupRow]:
    """The released dedup columns per row (the warehouse's `dedup_results` view computes the same in SQL)."""
    partners: dict[str, list[str]] = {conversation_id: [] for conversation_id in order_keys}
    for a, b, _ in pairs:
        partners[a].append(b)
        partners[b].append(a)
    rows = {}
    for conversation_id in order_keys:
        group = [conversation_id, *partners[conversation_id]]
        first = min(group, key=lambda member: (*order_keys[member], member))
        neighbour, distance = nearest.get(conversation_id, (None, float("inf")))
        rows[conversation_id] = DedupRow(None if neighbour is None else distance, len(partners[conversation_id]), first)
    return rows


def _neighbour(ids: Sequence[str], index: int, distance: float) -> tuple[str | None, float]:
    return (None, float("inf")) if index < 0 else (ids[int(index)], float(distance))


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
