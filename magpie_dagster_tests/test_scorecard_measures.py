"""The scorecard's measures and drift check, on hand-made inputs with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from magpie_dagster.domain.catalogue import CatalogueError, load_catalogue
from magpie_dagster.domain.curation.rules import ShareBounds
from magpie_dagster.domain.scorecard.agreement import agreement, sampled, tag_kappa
from magpie_dagster.domain.scorecard.config import DEFAULT_BANDS, ScorecardSettings
from magpie_dagster.domain.scorecard.drift import drifts
from magpie_dagster.domain.scorecard.measures import entropy_bits, mix_distance, vendi_score
from magpie_dagster.domain.scorecard.metrics import DISTRIBUTIONS, TRENDED
from magpie_dagster.domain.tagging.labels import LABEL_SETS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scorecard.md"


def test_vendi_counts_identical_rows_once_and_orthogonal_rows_each():
    assert vendi_score(np.tile([0.3, 0.4, 0.5], (6, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(5)) == pytest.approx(5.0)
    two_groups = np.array([[1.0, 0.0]] * 3 + [[0.0, 2.0]] * 3)  # scale does not matter under the cosine kernel
    assert vendi_score(two_groups) == pytest.approx(2.0)
    assert vendi_score(np.zeros((0, 4))) is None


def test_vendi_equals_the_definition_over_the_n_by_n_kernel():
    """The d x d shortcut against Friedman & Dieng's definition: exp(entropy of the eigenvalues of K / n)."""
    rows = np.random.default_rng(7).normal(size=(40, 6))
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvalsh(unit @ unit.T / len(unit))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    assert vendi_score(rows) == pytest.approx(math.exp(-(eigenvalues * np.log(eigenvalues)).sum()), rel=1e-6)


def test_entropy_in_bits():
    assert entropy_bits({"Math": 10}) == 0.0
    assert entropy_bits({"Math": 5, "Coding & Debugging": 5}) == pytest.approx(1.0)
    assert entropy_bits({"a": 1, "b": 1, "c": 1, "d": 1}) == pytest.approx(2.0)
    assert entropy_bits({}) is None


def test_mix_distance_sums_the_share_outside_each_bound():
    bounds = {"Math": ShareBounds(min=0.2, max=0.4), "Others": ShareBounds(max=0.05)}
    assert mix_distance({"Math": 0.3, "Others": 0.0}, bounds) == 0.0
    assert mix_distance({"Math": 0.1, "Others": 0.15}, bounds) == pytest.approx(0.2)  # 0.1 short, 0.1 over
    assert mix_distance({"Coding & Debugging": 1.0}, bounds) == pytest.approx(0.2)  # Math missing entirely
    assert mix_distance({"Math": 1.0}, {}) is None


def test_drift_is_judged_against_the_median_within_absolute_and_relative_bands():
    earlier = [{"usable_rate": rate, "diversity_vendi": 10.0} for rate in (0.8, 0.82, 0.5, 0.79)]
    bands = {"usable_rate": 0.15, "diversity_vendi": "30%"}
    assert drifts({"usable_rate": 0.7, "diversity_vendi": 12.9}, earlier, bands, min_nights=3) == []
    [usable, vendi] = drifts({"usable_rate": 0.6, "diversity_vendi": 6.5}, earlier, bands, min_nights=3)
    assert (usable.metric, usable.median, usable.allowed) == ("usable_rate", pytest.approx(0.795), 0.15)
    assert (vendi.metric, vendi.median, vendi.allowed) == ("diversity_vendi", 10.0, pytest.approx(3.0))
    assert usable.describe() == "usable_rate 0.6 is 0.195 from its trailing median 0.795 (band 0.15)"


def test_drift_waits_for_enough_earlier_nights_and_skips_missing_numbers():
    earlier = [{"category_entropy": 1.5}, {"category_entropy": None}, {"category_entropy": 1.6}]
    assert drifts({"category_entropy": 0.0}, earlier, {"category_entropy": 0.75}, min_nights=3) == []
    assert len(drifts({"category_entropy": 0.0}, earlier, {"category_entropy": 0.75}, min_nights=2)) == 1
    assert drifts({"category_entropy": None}, earlier, {"category_entropy": 0.75}, min_nights=1) == []


def test_bands_merge_over_the_defaults_and_null_turns_one_off():
    settings = ScorecardSettings(bands={"usable_rate": 0.05, "diversity_vendi": None, "curated_rows": "20%"})
    bands = settings.effective_bands()
    assert bands["usable_rate"] == 0.05 and bands["curated_rows"] == "20%"
    assert "diversity_vendi" not in bands
    assert bands["category_entropy"] == DEFAULT_BANDS["category_entropy"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("bands: {usable_rat: 0.1}", "unknown scorecard metric 'usable_rat'; use one of: instructions, usable_rate"),
        ("bands: {usable_rate: lots}", "band of 'usable_rate' is 'lots': give a number (absolute) or a percentage"),
        ("bands: {usable_rate: -0.1}", "band of 'usable_rate' is -0.1: a band is a distance"),
        ("trailing_nights: 0", "trailing_nights"),
    ],
)
def test_a_malformed_scorecard_section_names_the_file_and_field(tmp_path, section, message):
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        'start_date: "2026-11-01"\nmodels:\n  - {key: small, engine: llama_cpp, model: packaged:smollm2-135m-instruct,'
        f" template: smollm2}}\nscorecard:\n  {section}\n"
    )
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(path)
    assert "catalogue.yaml" in str(raised.value) and "scorecard" in str(raised.value)
    assert message in str(raised.value)


def test_the_docs_explain_every_number_and_every_default_band():
    text = DOCS.read_text()
    assert [name for name in [*TRENDED, *DISTRIBUTIONS] if f"`{name}`" not in text] == []
    assert [metric for metric, band in DEFAULT_BANDS.items() if f"`{metric}` {band}" not in text] == []


def test_kappa_nominal_and_quadratic_against_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    difficulty = list(LABEL_SETS["difficulty"])
    first = [difficulty[i] for i in rng.integers(0, 5, 60)]
    second = [difficulty[min(4, max(0, difficulty.index(label) + int(step)))] for label, step in
              zip(first, rng.integers(-1, 2, 60), strict=True)]  # fmt: skip
    pairs = list(zip(first, second, strict=True))
    expected = cohen_kappa_score(first, second, labels=difficulty, weights="quadratic")
    assert tag_kappa("difficulty", pairs) == pytest.approx(expected, abs=1e-4)
    categories = [("Math", "Math"), ("Math", "Reasoning"), ("Reasoning", "Reasoning"), ("Reasoning", "Reasoning")]
    assert tag_kappa("task_category", categories) == pytest.approx(0.5)  # po 0.75, pe 0.5
    assert tag_kappa("task_category", [("Math", "Math")] * 4 + [("Reasoning", "Math")] * 4) == 0.0  # constant rater
    assert tag_kappa("task_category", [("Math", "Math")] * 3) is None  # one label throughout: undefined
    assert agreement(categories) == 0.75 and agreement([]) is None


def test_a_nights_sample_is_stable_for_the_night_and_differs_between_nights():
    ids = [f"id{i}" for i in range(100)]
    assert sampled(ids, 10, "2026-11-20") == sampled(list(reversed(ids)), 10, "2026-11-20")
    assert sampled(ids, 10, "2026-11-20") != sampled(ids, 10, "2026-11-21")
    assert len(sampled(ids, 500, "2026-11-20")) == 100


def test_the_second_judges_engine_is_one_the_catalogue_uses(tmp_path):
    """A vLLM second judge makes the UI's materialisations run a process per step, as any vLLM entry does."""
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        'start_date: "2026-11-01"\nmodels:\n  - {key: small, engine: llama_cpp, model: packaged:smollm2-135m-instruct,'
        " template: smollm2}\nscorecard:\n  second_judge: {judge: {engine: vllm, model: Qwen/Qwen2.5-7B-Instruct}}\n"
    )
    catalogue = load_catalogue(path)
    assert catalogue.engines_in_use == {"llama_cpp", "vllm"}
    assert catalogue.scorecard.second_judge.sample == 50 and catalogue.scorecard.second_judge.min_kappa == 0.2


def test_the_second_judge_asks_with_the_first_judges_prompt_version():
    """A catalogue that pins `prompts: {category: category-v1}` gets its second opinions from that same prompt."""
    import datetime as dt

    import polars as pl

    from magpie_dagster.domain.scorecard.config import SecondJudge
    from magpie_dagster.domain.scorecard.second_judge import second_opinions
    from magpie_dagster.domain.tagging.tags import spec_with_prompt
    from magpie_dagster.engines.fake import FakeEngine, default_fake_judgement

    asked = []

    def answer(request):
        asked.append(request.messages)
        return default_fake_judgement(request)

    answered = pl.DataFrame({
        "instruction_id": ["a", "b"], "model": ["m", "m"], "partition_date": [dt.date(2026, 11, 20)] * 2,
        "instruction": ["Add 2 and 3.", "Write a poem."], "task_category": ["Math", "Creative writing"],
        "task_category_generator": ["judge.gguf"] * 2,
    })  # fmt: skip
    settings = SecondJudge(judge={"engine": "llama_cpp", "model": "judge2.gguf"}, sample=5)
    rows = second_opinions(
        answered, settings, {"category": "category-v1"}, "2026-11-20",
        lambda model, day: FakeEngine(answer_for=answer), done=set(),
    )  # fmt: skip
    assert [(row["conversation_id"], row["prompt_version"], row["status"]) for row in rows] == [
        ("a", "category-v1", "ok"), ("b", "category-v1", "ok"),
    ]  # fmt: skip
    expected = tuple(spec_with_prompt("category-v1").prompt.messages(instruction="Add 2 and 3.", response=""))
    assert expected in [tuple(messages) for messages in asked]
    assert all(row["judge_model"] == "judge.gguf" for row in rows)
