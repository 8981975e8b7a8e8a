"""Near-duplicate state built partition by partition (in any order, with re-runs) equals a full recompute."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from magpie_dagster.domain.dedup.corpus import full_recompute, summarise, update_for_partition
from magpie_dagster.domain.dedup.neighbours import search
from magpie_dagster.domain.dedup.normalise import normalise_text, text_hash

PARTITIONS = [
    ("alpha", dt.date(2026, 11, 1)),
    ("beta", dt.date(2026, 11, 1)),
    ("alpha", dt.date(2026, 11, 2)),
    ("beta", dt.date(2026, 11, 3)),
]


def corpus(seed: int = 7, per_partition: int = 60, dim: int = 32):
    """Random unit vectors, with planted near-duplicates inside and across partitions (and exact copies)."""
    rng = np.random.default_rng(seed)
    rows = {}
    for model, day in PARTITIONS:
        vectors = rng.normal(size=(per_partition, dim))
        rows[(model, day)] = [f"{model}-{day:%d}-{i:03d}" for i in range(per_partition)], vectors
    keys = list(rows)
    for index in range(0, per_partition, 6):  # copy some rows into later partitions, slightly perturbed
        source_ids, source = rows[keys[index % 2]]
        target_ids, target = rows[keys[2 + index % 2]]
        target[index] = source[index] + rng.normal(scale=0.01 if index % 12 else 0.0, size=dim)
    normalised = {}
    for key, (ids, vectors) in rows.items():
        normalised[key] = (ids, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32))
    return normalised


def build_incrementally(rows, order, approximate_above=10**9):
    ids: list[str] = []
    vectors = np.empty((0, 32), dtype=np.float32)
    nearest: dict = {}
    pairs: dict = {}
    for key in order:
        partition_ids, partition_vectors = rows[key]
        old = {i for i in ids if i in set(partition_ids)}
        if old:  # a re-run replaces the partition: drop its rows and their state first
            keep = [index for index, i in enumerate(ids) if i not in old]
            ids, vectors = [ids[index] for index in keep], vectors[keep]
            nearest = {i: value for i, value in nearest.items() if i not in old}
            pairs = {pair: d for pair, d in pairs.items() if not (set(pair) & old)}
        ids, vectors = ids + list(partition_ids), np.vstack([vectors, partition_vectors])
        update = update_for_partition(ids, vectors, set(partition_ids), nearest, approximate_above=approximate_above)
        nearest.update(update.nearest)
        pairs.update({(a, b): d for a, b, d in update.pairs})
    return ids, nearest, [(a, b, d) for (a, b), d in pairs.items()]


def order_keys(rows):
    return {i: (day, model) for (model, day), (ids, _) in rows.items() for i in ids}


@pytest.mark.parametrize("approximate_above", [10**9, 0], ids=["exact", "faiss"])
@pytest.mark.parametrize(
    "order",
    [
        [0, 1, 2, 3],
        [3, 2, 1, 0],  # later dates first: backfilling earlier nights changes older rows' first-of-group
        [2, 0, 3, 1, 0, 2],  # with re-runs of partitions already in the corpus
    ],
)
def test_incremental_equals_full_recompute(order, approximate_above):
    rows = corpus()
    keys = list(rows)
    ids, nearest, pairs = build_incrementally(rows, [keys[i] for i in order], approximate_above)
    all_ids = [i for key in keys for i in rows[key][0]]
    full = full_recompute(all_ids, np.vstack([rows[key][1] for key in keys]))
    incremental = summarise(order_keys(rows), nearest, pairs)
    reference = summarise(order_keys(rows), full.nearest, full.pairs)
    assert sorted(ids) == sorted(all_ids)
    assert {(a, b) for a, b, _ in pairs} == {(a, b) for a, b, _ in full.pairs}
    for conversation_id, expected in reference.items():
        got = incremental[conversation_id]
        assert got.repeat_count == expected.repeat_count
        assert got.min_similar_conversation_id == expected.min_similar_conversation_id
        tolerance = 1e-5 if approximate_above else 2e-3  # the faiss index stores fp16 vectors
        assert got.min_neighbor_distance == pytest.approx(expected.min_neighbor_distance, abs=tolerance)
    assert sum(row.repeat_count > 0 for row in reference.values()) >= 20, "the corpus has near-duplicates"


def test_first_of_group_is_the_earliest_date_then_model_then_id():
    vectors = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    ids = ["z-late", "a-early", "c"]
    full = full_recompute(ids, vectors)
    keys = {
        "z-late": (dt.date(2026, 1, 2), "m"),
        "a-early": (dt.date(2026, 1, 1), "z"),
        "c": (dt.date(2026, 1, 1), "m"),
    }
    summary = summarise(keys, full.nearest, full.pairs)
    assert summary["z-late"].min_similar_conversation_id == "a-early"
    assert summary["a-early"].min_similar_conversation_id == "a-early"
    assert summary["z-late"].repeat_count == 1 and summary["c"].repeat_count == 0
    assert summary["c"].min_neighbor_distance == pytest.approx(2.0)
    assert summary["a-early"].min_neighbor_distance == pytest.approx(0.0)


def test_neighbour_maths_on_hand_made_vectors():
    s = np.sqrt(0.5)
    corpus_vectors = np.array([[1, 0], [s, s], [0, 1], [-1, 0]], dtype=np.float32)
    found = search(corpus_vectors[:2], corpus_vectors, np.array([0, 1]), threshold=0.6, block_size=1)
    assert list(found.query_nearest) == [1, 0]
    assert found.query_distance[0] == pytest.approx(2 - 2 * s)  # 0.586 < 0.6: a near-duplicate pair
    assert list(found.corpus_nearest) == [1, 0, 1, 1]  # [-1, 0] is nearer the diagonal than its opposite
    assert found.corpus_distance[3] == pytest.approx(2 + 2 * s)
    assert {(int(q), int(c)) for q, c, _ in found.pairs} == {(0, 1), (1, 0), (1, 2)}


def test_a_lone_row_has_no_neighbour():
    full = full_recompute(["only"], np.array([[1.0, 0.0]], dtype=np.float32))
    assert full.nearest == {"only": (None, float("inf"))}
    assert (
        summarise({"only": (dt.date(2026, 1, 1), "m")}, full.nearest, full.pairs)["only"].min_neighbor_distance is None
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I sort a list?", "  how do i SORT a list  "),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ('"Quoted request."', "quoted request"),
        ("tabs\tand\nnewlines", "tabs and newlines"),
    ],
)
def test_normalisation_makes_typing_variants_exact_duplicates(a, b):
    assert normalise_text(a) == normalise_text(b) and text_hash(a) == text_hash(b)


def test_different_requests_hash_differently():
    assert text_hash("Sort a list") != text_hash("Sort a dict")
    assert normalise_text("C# generics?") == "c# generics"
