"""Decontamination's parts on their own: n-gram overlap, exact text, embedding neighbours, reading benchmark files
(and their errors), which partitions a run re-checks, the catalogue section and the recipe rule."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster.domain.curation.recipe import Recipe, apply_recipe
from magpie_dagster.domain.decontamination.benchmarks import Benchmark, BenchmarkFileError, load_benchmark
from magpie_dagster.domain.decontamination.check import BenchmarkMatcher, partitions_to_check
from magpie_dagster.domain.decontamination.config import BenchmarkFile, DecontaminationSettings
from magpie_dagster.domain.decontamination.nearest import nearest_prompts
from magpie_dagster.domain.decontamination.ngrams import NgramIndex, words

PROMPT = "Write a haiku about the first snow of winter falling on a quiet mountain village at night"  # 17 words


def test_thirteen_shared_words_in_a_row_match_and_twelve_do_not():
    index = NgramIndex([PROMPT], n=13, min_n=8)
    thirteen = " ".join(words(PROMPT)[2:15])
    overlap = index.first_overlap(f"Please, {thirteen.upper()}!!! thanks")
    assert overlap is not None and overlap.prompt_index == 0 and overlap.shared == thirteen.lower()
    twelve = " ".join(words(PROMPT)[2:14])
    assert index.first_overlap(f"Please {twelve} thanks") is None
    # Twelve, a different word, then more: two runs shorter than 13 are not one run of 13.
    broken = " ".join([*words(PROMPT)[:10], "autumn", *words(PROMPT)[11:]])
    assert index.first_overlap(broken) is None


def test_a_shared_run_is_extended_to_its_full_length():
    index = NgramIndex([PROMPT], n=13, min_n=8)
    overlap = index.first_overlap("Task: " + PROMPT + ". Use five syllables.")
    assert overlap.shared == " ".join(words(PROMPT))


def test_a_short_prompt_matches_on_its_whole_length_and_a_very_short_one_never_by_words():
    short = "Name the largest planet in our solar system"  # 8 words: at least min_n
    tiny = "What is love"  # 3 words: exact text and embeddings only
    index = NgramIndex([short, tiny], n=13, min_n=8)
    assert index.first_overlap(f"Quick quiz: {short.lower()}?").prompt_index == 0
    assert index.first_overlap("Name the largest planet in our galaxy") is None
    assert index.first_overlap("Tell me: what is love, baby?") is None


def test_matcher_reports_each_method_that_finds_a_row():
    benchmark = _benchmark(["How do tides work?", PROMPT])
    vectors = np.eye(3, dtype=np.float32)[:2]
    matcher = BenchmarkMatcher(benchmark, DecontaminationSettings(max_distance=0.3), vectors)
    rows = [("a", "  how do TIDES work "), ("b", f"Now: {PROMPT}"), ("c", "Something else entirely")]
    row_vectors = np.array([[0, 0, 1], [0, 1, 0], [0.99, 0.141, 0]], dtype=np.float32)
    row_vectors /= np.linalg.norm(row_vectors, axis=1, keepdims=True)
    found = {(hit.conversation_id, hit.method, hit.prompt_index) for hit in matcher.hits(rows, row_vectors)}
    assert found == {("a", "exact", 0), ("b", "ngram", 1), ("b", "embedding", 1), ("c", "embedding", 0)}
    off = BenchmarkMatcher(benchmark, DecontaminationSettings(max_distance=None), None)
    assert {hit.method for hit in off.hits(rows, None)} == {"exact", "ngram"}


def test_nearest_prompts_keeps_only_rows_under_the_distance_across_chunks(monkeypatch):
    import magpie_dagster.domain.dedup.neighbours as neighbours

    monkeypatch.setattr(neighbours, "BLOCK_BYTES", 2 * 4 * 4)  # blocks of 2 instructions against 4 prompts
    rng = np.random.default_rng(0)
    prompts = rng.normal(size=(4, 8)).astype(np.float32)
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    rows = np.vstack([prompts[2], rng.normal(size=8), prompts[0] + 0.05 * rng.normal(size=8)]).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    found = nearest_prompts(rows, prompts, max_distance=0.1)
    brute = [
        (i, int(np.argmin(d)), float(d.min()))
        for i, d in enumerate(((rows[:, None, :] - prompts[None, :, :]) ** 2).sum(axis=2))
        if d.min() < 0.1
    ]
    assert [(i, p) for i, p, _ in found] == [(i, p) for i, p, _ in brute] == [(0, 2), (2, 0)]
    assert [d for *_, d in found] == pytest.approx([d for *_, d in brute], abs=1e-5)


def test_a_run_checks_its_own_partition_always_and_others_only_against_what_they_miss():
    keys = {"a": "a1", "b": "b2"}
    checked = {(("m", 1), "a"): "a1", (("m", 1), "b"): "b1", (("m", 2), "a"): "a1", (("m", 2), "b"): "b2"}
    plan = partitions_to_check(("m", 2), [("m", 1), ("m", 2), ("m", 3)], checked, keys)
    assert plan == {("m", 2): ["a", "b"], ("m", 1): ["b"], ("m", 3): ["a", "b"]}
    assert partitions_to_check(("m", 2), [("m", 1)], checked, {}) == {}


def test_jsonl_and_parquet_give_the_same_prompts_and_fingerprint(tmp_path):
    prompts = ["First prompt?", "", None, "Second prompt."]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps({"text": p}) for p in prompts) + "\n")
    pl.DataFrame({"text": prompts}).write_parquet(tmp_path / "b.parquet")
    from_jsonl = load_benchmark(BenchmarkFile(name="b", path="b.jsonl", field="text"), tmp_path)
    from_parquet = load_benchmark(BenchmarkFile(name="b", path=str(tmp_path / "b.parquet"), field="text"), tmp_path)
    assert from_jsonl.prompts == from_parquet.prompts == ("First prompt?", "Second prompt.")
    assert from_jsonl.fingerprint == from_parquet.fingerprint
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "First prompt!"}) + "\n")
    assert load_benchmark(BenchmarkFile(name="b", path="b.jsonl", field="text"), tmp_path).fingerprint != (
        from_parquet.fingerprint
    )


@pytest.mark.parametrize(
    ("name", "content", "field", "message"),
    [
        ("gone.jsonl", None, "prompt", "no such file; fix `path`"),
        ("prompts.csv", "prompt\nhi\n", "prompt", "unknown format '.csv'; use a .jsonl or .parquet file"),
        ("b.jsonl", '{"question": "hi"}\n', "prompt", "no field 'prompt'; its fields: question"),
        ("b.jsonl", '{"prompt": 3}\n', "prompt", "field 'prompt' holds Int64, not text"),
        ("b.jsonl", '{"prompt": "  "}\n', "prompt", "field 'prompt' holds no prompt text"),
        ("b.jsonl", '{"prompt": "hi"}\n{"prompt": \n', "prompt", "not readable as JSONL"),
    ],
)
def test_a_bad_benchmark_file_names_the_benchmark_the_file_and_the_fix(tmp_path, name, content, field, message):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(BenchmarkFileError) as error:
        load_benchmark(BenchmarkFile(name="arena", path=name, field=field), tmp_path)
    assert f"benchmark 'arena' ({tmp_path / name})" in str(error.value) and message in str(error.value)


def test_the_catalogue_section_refuses_repeated_names_and_a_minimum_above_the_length(tmp_path):
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(textwrap.dedent("""
        start_date: "2026-11-01"
        models: [{key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2}]
        decontamination:
          min_ngram: 20
          benchmarks: [{name: a, path: a.jsonl}, {name: a, path: b.jsonl}, {name: "bad name", path: c.jsonl}]
    """))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(catalogue)
    text = str(error.value)
    assert "decontamination.benchmarks.2.name" in text and "'bad name': use letters" in text
    catalogue.write_text(catalogue.read_text().replace(', {name: "bad name", path: c.jsonl}', ""))
    with pytest.raises(CatalogueError, match="benchmark names must be unique; repeated: a"):
        load_catalogue(catalogue)
    catalogue.write_text(catalogue.read_text().replace(", {name: a, path: b.jsonl}", ""))
    with pytest.raises(CatalogueError, match="min_ngram 20 is above ngram 13"):
        load_catalogue(catalogue)


def test_the_rule_drops_hits_of_its_methods_and_is_skipped_when_nothing_was_checked():
    rows = pl.DataFrame(
        {
            "conversation_id": ["a", "b", "c"],
            "model": ["m"] * 3,
            "contamination_checked": [True] * 3,
            "contamination_methods": [["exact", "ngram"], ["embedding"], []],
        }
    )
    recipe = Recipe.model_validate({"name": "r", "rules": [{"rule": "not_contaminated"}]})
    result = apply_recipe(recipe, rows)
    assert result.kept["conversation_id"].to_list() == ["c"]
    assert set(result.rows.filter(pl.col("drop_reason").is_not_null())["drop_reason"]) == {"benchmark_contamination"}
    by_words = Recipe.model_validate({"name": "r", "rules": [{"rule": "not_contaminated", "methods": ["ngram"]}]})
    assert apply_recipe(by_words, rows).kept["conversation_id"].to_list() == ["b", "c"]
    unchecked = apply_recipe(recipe, rows.with_columns(pl.lit(None, dtype=pl.Boolean).alias("contamination_checked")))
    assert unchecked.kept.height == 3
    assert "decontamination section" in unchecked.skipped["benchmark_contamination"]


def _benchmark(prompts):
    return Benchmark("bench", Path("bench.jsonl"), tuple(prompts), "f" * 32)
