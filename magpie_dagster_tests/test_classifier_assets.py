"""The CPU default tagger through Dagster, on both backends, with the real packaged MiniLM: a catalogue without a
`judging` section tags difficulty, quality and category by the embedding classifier (the LLM judge never opens),
stores its held-out score, reuses its judgements, re-tags when the labels change, and the scorecard and the card
carry its held-out accuracy beside the constant's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from magpie_dagster.defs.resources import EmbedderResource
from magpie_dagster.domain.tagging.evaluation import packaged_eval_set_path
from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES
from magpie_dagster_tests.backends import FILE_ONLY
from magpie_dagster_tests.fakes import FakeEngineResource

NIGHT = dt.date(2026, 11, 20)
CATALOGUE = """
start_date: "2026-11-01"
models:
  - {key: alpha, engine: llama_cpp, model: a.gguf, template: smollm2, instructions_per_batch: 16}
"""
CLASSIFIER = "centroid:packaged:all-minilm-l6-v2"
JUDGING = "judging:\n  judge: {{engine: llama_cpp, model: j.gguf}}\n  classifier: {{labels: {labels}}}\n"


@pytest.fixture
def real(project):
    return dataclasses.replace(project, embedder=EmbedderResource())


def _tag_metadata(result) -> dict:
    [metadata] = [
        event.materialization.metadata for event in result.get_asset_materialization_events()
        if event.asset_key.path[-1] == "instruction_tags"
    ]  # fmt: skip
    return {key: value.value for key, value in metadata.items()}


def test_the_default_tags_by_the_classifier_and_the_scorecard_carries_its_held_out_accuracy(real, tmp_path):
    opened = tmp_path / "opened.log"
    engines = FakeEngineResource(script="leaking", open_log=str(opened))
    instance = dg.DagsterInstance.ephemeral()
    assert real.materialise("alpha", engines, instance=instance).success
    assert "judge" not in {line.split()[0] for line in opened.read_text().splitlines()}
    kept = real.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    judged = real.query(
        "SELECT tag, judge_model, status, count(*) FROM judgements WHERE tag <> 'language' GROUP BY ALL ORDER BY 1"
    )
    assert [(tag, model, status) for tag, model, status, _ in judged] == [
        (tag, CLASSIFIER, "ok") for tag in ("category", "difficulty", "quality")
    ]
    assert {count for *_, count in judged} == {kept} and kept > 3
    rows = real.query("SELECT instruction, difficulty, input_quality, task_category, intent FROM instruction_tags")
    assert all(d in DIFFICULTY and q in INPUT_QUALITY and c in TASK_CATEGORIES and i is None for _, d, q, c, i in rows)
    # Read from the text: the same instruction always gets the same labels, and the night's do not all get one.
    labels_of = {}
    for text, *labels in rows:
        assert labels_of.setdefault(text, labels) == labels
    assert len({labels[2] for labels in labels_of.values()}) > 1
    scores = real.query(
        "SELECT field, method, labelled_rows, accuracy, constant_accuracy, kappa FROM tagger_scores ORDER BY field"
    )
    assert [row[:3] for row in scores] == [
        (field, "leave-one-out", 72) for field in ("difficulty", "input_quality", "task_category")
    ]
    held_out = {field: (accuracy, constant) for field, _, _, accuracy, constant, _ in scores}
    assert held_out["task_category"][0] > 4 * held_out["task_category"][1]
    # Nothing to re-tag the second time: every judgement is reused and the embedder is not even needed.
    again = real.materialise("alpha", engines, instance=instance, assets=["instruction_tags"])
    assert _tag_metadata(again)["reused"] == 4 * kept and _tag_metadata(again)["judged"] == 0
    assert real.curate(engines, instance=instance).success
    [(accuracy, constant)] = real.query(
        "SELECT tagger_held_out_accuracy, tagger_constant_accuracy FROM night_scorecard WHERE model = '*'"
    )
    assert accuracy == {field: a for field, (a, _) in held_out.items()}
    assert constant == {field: c for field, (_, c) in held_out.items()}
    card = next(Path(real.backend.exports_path).rglob("README.md")).read_text()
    assert "### Tag accuracy" in card and f"| task_category | {held_out['task_category'][0]:.0%} |" in card
    assert "role: classifier" in card and "centroid-v1:labels-" in card


@FILE_ONLY
def test_labels_of_ones_own_re_tag_the_rows_and_a_missing_file_fails_naming_it(project):
    real = project  # the fake embedder: what is re-tagged does not depend on the vectors
    engines = FakeEngineResource(script="leaking")
    instance = dg.DagsterInstance.ephemeral()
    assert real.materialise("alpha", engines, instance=instance).success
    [(before,)] = real.query("SELECT DISTINCT prompt_version FROM judgements WHERE tag = 'category'")
    folder = real.catalogue.parent
    lines = packaged_eval_set_path().read_text().splitlines()
    (folder / "labels.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # one labelled row fewer
    base = real.catalogue.read_text()
    real.catalogue.write_text(base + JUDGING.format(labels="labels.jsonl"))
    retagged = real.materialise("alpha", engines, instance=instance, assets=["instruction_tags"])
    kept = real.query("SELECT count(*) FROM instructions WHERE drop_reason IS NULL")[0][0]
    assert _tag_metadata(retagged)["judged"] == 3 * kept  # language is reused; the three classified tags are not
    [(after,)] = real.query("SELECT DISTINCT prompt_version FROM judgements WHERE tag = 'category'")
    assert after != before and after.startswith("centroid-v1:labels-")
    assert real.query("SELECT max(labelled_rows) FROM tagger_scores WHERE prompt_version = ?", [after]) == [(71,)]
    real.catalogue.write_text(base + JUDGING.format(labels="gone.jsonl"))
    failed = real.materialise("alpha", engines, instance=instance, assets=["instruction_tags"], raise_on_error=False)
    assert not failed.success
    [failure] = [event for event in failed.all_events if event.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "judging.classifier.labels: " in message and "gone.jsonl is not a file. Use `packaged`" in message
