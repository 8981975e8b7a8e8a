"""Near-duplicate state built partition by partition (in any order, with re-runs) equals a brute-force oracle."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pytest

from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.defs.resources import EmbedderResource
from magpie_dagster.domain.dedup.corpus import full_recompute, summarise, update_for_partition
from magpie_dagster.domain.dedup.neighbours import search
from magpie_dagster.domain.dedup.normalise import normalise_text, text_hash
from magpie_dagster.storage.warehouse import Warehouse

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


THRESHOLD = 0.05


def brute_force(ids: list[str], vectors: np.ndarray, first_key: dict) -> dict[str, tuple]:
    """The oracle, independent of the code under test: every pairwise squared L2 distance in plain numpy.

    id -> (the nearest other ids (exact copies tie), their distance, near-duplicates under THRESHOLD, the first
    of the row and them).
    """
    distances = ((vectors[:, None, :].astype(np.float64) - vectors[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    expected = {}
    for index, conversation_id in enumerate(ids):
        near = [ids[other] for other in np.flatnonzero(distances[index] < THRESHOLD)]
        first = min([conversation_id, *near], key=lambda member: (*first_key[member], member))
        closest = distances[index].min()
        nearest = {ids[other] for other in np.flatnonzero(distances[index] <= closest + 1e-9)}
        expected[conversation_id] = (nearest, float(closest), len(near), first)
    return expected


def assert_matches_brute_force(got: dict[str, tuple], expected: dict[str, tuple], tolerance: float) -> None:
    assert set(got) == set(expected)
    for conversation_id, (nearest, distance, repeat_count, first) in expected.items():
        got_nearest, got_distance, got_repeat_count, got_first = got[conversation_id]
        assert got_distance == pytest.approx(distance, abs=tolerance), conversation_id
        assert (got_repeat_count, got_first) == (repeat_count, first), conversation_id
        assert got_nearest in nearest, conversation_id


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


ORDERS = [
    [0, 1, 2, 3],
    [3, 2, 1, 0],  # later dates first: backfilling earlier nights changes older rows' first-of-group
    [2, 0, 3, 1, 0, 2],  # with re-runs of partitions already in the corpus
]


@pytest.mark.parametrize("approximate_above", [10**9, 0], ids=["exact", "faiss"])
@pytest.mark.parametrize("order", ORDERS)
def test_incremental_state_equals_brute_force(order, approximate_above):
    rows = corpus()
    keys = list(rows)
    ids, nearest, pairs = build_incrementally(rows, [keys[i] for i in order], approximate_above)
    summary = summarise(order_keys(rows), nearest, pairs)
    got = {
        i: (row_nearest, row_distance, summary[i].repeat_count, summary[i].min_similar_conversation_id)
        for i, (row_nearest, row_distance) in nearest.items()
    }
    all_ids = [i for key in keys for i in rows[key][0]]
    expected = brute_force(all_ids, np.vstack([rows[key][1] for key in keys]), order_keys(rows))
    assert sorted(ids) == sorted(all_ids)
    assert_matches_brute_force(got, expected, tolerance=1e-5 if approximate_above else 2e-3)  # faiss stores fp16
    assert sum(row[2] > 0 for row in expected.values()) >= 20, "the corpus has near-duplicates"


class PlantedEmbedderResource(EmbedderResource):
    """Embeds each instruction as the vector the test planted for it (the text is its conversation id)."""

    vectors: dict[str, list[float]]

    def get(self, model: str, batch_size: int):
        return _Planted(self.vectors)


class _Planted:
    name = "planted"

    def __init__(self, vectors: dict[str, list[float]]):
        self._vectors = vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray([self._vectors[text] for text in texts], dtype=np.float32)


def write_instructions(warehouse: Warehouse, model: str, day: dt.date, conversation_ids: list[str]) -> None:
    """Replaces a partition's usable instructions, each text being its id (what the generation stage stores)."""
    with warehouse.connect() as connection:
        connection.execute("DELETE FROM instructions WHERE model = ? AND partition_date = ?", [model, day])
        connection.executemany(
            "INSERT INTO instructions (conversation_id, model, partition_date, sample_index, instruction, "
            "raw_instruction, sanitiser_rules, gen_input_configs, prompt_tokens, completion_tokens, finish_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, [], {'temperature': 1.0, 'top_p': 1.0, 'max_tokens': 64, "
            "'input_generator': 'planted', 'seed': 0, 'pre_query_template': ''}, 1, 1, 'stop')",
            [[i, model, day, index, i, i] for index, i in enumerate(conversation_ids)],
        )


DEDUP_CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2}
  - {key: beta, engine: llama_cpp, model: packaged:smollm2-135m-instruct, template: smollm2}
dedup: {embedder: planted, threshold: 0.05}
"""


# Every order on the DuckDB file; on DuckLake the last, which has them all: a backfill and re-runs.
STORED_ORDERS = [
    *(pytest.param(order, "file", id=f"order{index}-file") for index, order in enumerate(ORDERS)),
    pytest.param(ORDERS[-1], "lake", id=f"order{len(ORDERS) - 1}-lake"),
]


@pytest.mark.parametrize(("order", "new_backend"), STORED_ORDERS, indirect=["new_backend"])
def test_stored_dedup_results_equal_brute_force_over_every_row(order, backend, tmp_path):
    """Partitions materialised one by one through the real asset and store, read back through the view."""
    rows = corpus()
    keys = list(rows)
    # The last re-run of a partition replaces two of its rows with new ones (new ids, new vectors).
    final = dict(rows)
    replaced_key = keys[order[-1]]
    replaced_ids, replaced_vectors = rows[replaced_key]
    fresh = corpus(seed=99)[replaced_key][1][:2]
    final[replaced_key] = ([*replaced_ids[2:], "fresh-0", "fresh-1"], np.vstack([replaced_vectors[2:], fresh]))
    planted = {i: vector.tolist() for ids, vectors in (*rows.values(), final[replaced_key]) for i, vector in
               zip(ids, vectors, strict=True)}  # fmt: skip
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(DEDUP_CATALOGUE)
    warehouse = backend.warehouse()
    warehouse.ensure_schema()
    definitions = backend.definitions(catalogue, embedder=PlantedEmbedderResource(vectors=planted))
    job = definitions.resolve_job_def("magpie_job")
    for step, index in enumerate(order):
        model, day = keys[index]
        is_last = step == len(order) - 1
        write_instructions(warehouse, model, day, (final if is_last else rows)[keys[index]][0])
        result = job.execute_in_process(
            partition_key=model_date_key(model, day),
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey("dedup_results")],
        )
        assert result.success
    with warehouse.connect(read_only=True) as connection:
        stored = connection.execute(
            "SELECT conversation_id, nearest_conversation_id, min_neighbor_distance, repeat_count, "
            "min_similar_conversation_id FROM dedup_results"
        ).fetchall()
    got = {row[0]: row[1:] for row in stored}
    all_ids = [i for key in keys for i in final[key][0]]
    expected = brute_force(all_ids, np.vstack([final[key][1] for key in keys]), order_keys(final))
    assert_matches_brute_force(got, expected, tolerance=1e-5)
    assert not set(replaced_ids[:2]) & set(got) and {"fresh-0", "fresh-1"} <= set(got)


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


@pytest.mark.parametrize("block_size", [7, None])
def test_blocked_search_equals_the_full_distance_matrix(block_size):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors[250:] = vectors[:50] + rng.normal(scale=0.05, size=(50, 16)).astype(np.float32)  # planted near-copies
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries, self_index = vectors[200:], np.arange(200, 300)
    found = search(queries, vectors, self_index, threshold=0.05, block_size=block_size)
    distances = np.maximum(2 - 2 * (queries.astype(np.float64) @ vectors.T.astype(np.float64)), 0)
    distances[np.arange(100), self_index] = np.inf
    assert list(found.query_nearest) == list(distances.argmin(axis=1))
    assert np.allclose(found.query_distance, distances.min(axis=1), atol=1e-5)
    assert list(found.corpus_nearest) == list(distances.argmin(axis=0))
    expected_pairs = {(int(q), int(c)) for q, c in zip(*np.nonzero(distances < 0.05), strict=True)}
    assert {(int(q), int(c)) for q, c, _ in found.pairs} == expected_pairs
    assert len(expected_pairs) >= 50  # the planted copies and their originals find each other
