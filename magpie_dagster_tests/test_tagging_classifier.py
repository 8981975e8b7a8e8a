"""The embedding classifier that tags difficulty, quality and category on the CPU: nearest centroid on hand-made
vectors, leave-one-out, its catalogue section, the taggers it becomes, and its held-out figures with the real
packaged MiniLM beating a constant label on every tag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from magpie_dagster.domain.catalogue import DEFAULT_JUDGING
from magpie_dagster.domain.tagging.classifier import CentroidClassifier, classifier_prompt_version
from magpie_dagster.domain.tagging.classifier_tagger import EmbeddingTagger
from magpie_dagster.domain.tagging.config import ClassifierEntry, Judging
from magpie_dagster.domain.tagging.evaluation import (
    EvalSetError,
    LabelledInstruction,
    LabelledSet,
    load_labelled_set,
    packaged_eval_set_path,
)
from magpie_dagster.domain.tagging.judge import JudgeItem
from magpie_dagster.domain.tagging.taggers import Openers, taggers

AXES = {"x": np.array([1.0, 0.0, 0.0]), "y": np.array([0.0, 1.0, 0.0]), "z": np.array([0.0, 0.0, 1.0])}


def _unit(*parts: tuple[str, float]) -> np.ndarray:
    vector = sum(AXES[axis] * weight for axis, weight in parts)
    return vector / np.linalg.norm(vector)


def test_each_row_gets_the_label_of_the_nearest_centroid_and_labels_without_examples_are_never_given():
    vectors = np.stack([_unit(("x", 1)), _unit(("x", 1), ("y", 0.2)), _unit(("y", 1)), _unit(("y", 1), ("z", 0.3))])
    classifier = CentroidClassifier(vectors, {"difficulty": ["easy", "easy", "hard", "hard"]})
    predictions = classifier.predict("difficulty", np.stack([_unit(("x", 1), ("y", 0.1)), _unit(("z", 1))]))
    assert [p.label for p in predictions] == ["easy", "hard"]  # z is nearer the hard centroid (it leans to z)
    assert all(p.margin > 0 for p in predictions)
    assert 0 < predictions[1].similarity < predictions[0].similarity <= 1.0


def test_leave_one_out_takes_each_training_row_out_of_its_own_centroid():
    # "medium" has one example only: held out, it can no longer be predicted, so its row falls to a neighbour.
    vectors = np.stack([_unit(("x", 1)), _unit(("x", 1), ("y", 0.1)), _unit(("y", 1)), _unit(("x", 1), ("z", 0.1))])
    labels = ["easy", "easy", "hard", "medium"]
    classifier = CentroidClassifier(vectors, {"difficulty": labels})
    assert [p.label for p in classifier.predict("difficulty", vectors)] == labels  # it has seen every row
    assert classifier.held_out("difficulty", vectors, labels) == ["easy", "easy", "easy", "easy"]
    assert classifier.held_out("difficulty", vectors, [None] * 4) == labels  # rows it never saw keep the fit


def test_the_classifier_takes_its_tags_from_the_judge_and_refuses_a_tag_named_for_both():
    assert DEFAULT_JUDGING.judge_tags == ()
    assert set(DEFAULT_JUDGING.judged_tags) == {"difficulty", "quality", "category"}
    judge = {"engine": "llama_cpp", "model": "judge.gguf"}
    narrowed = Judging.model_validate({"judge": judge, "classifier": {"tags": ["category"]}})
    assert narrowed.judge_tags == ("difficulty", "quality") and narrowed.judged_tags[-1] == "category"
    assert Judging.model_validate({"judge": judge}).judge_tags == ("difficulty", "quality", "category")
    with pytest.raises(ValidationError, match="judge.tags and classifier.tags both name category"):
        Judging.model_validate({"judge": {**judge, "tags": ["category"]}, "classifier": {"tags": ["category"]}})
    with pytest.raises(ValidationError, match="unknown tag.*reward; the classifier answers: difficulty"):
        ClassifierEntry(tags=("reward",))


def test_a_missing_or_malformed_labelled_set_is_refused_naming_the_file(tmp_path):
    with pytest.raises(EvalSetError, match=r"mine.jsonl is not a file. Use `packaged`"):
        load_labelled_set("mine.jsonl", tmp_path)
    (tmp_path / "mine.jsonl").write_text('{"id": "a", "instruction": "Hi"}\n')
    with pytest.raises(EvalSetError, match=r"mine.jsonl, line 1: field 'difficulty' is missing"):
        load_labelled_set("mine.jsonl", tmp_path)
    packaged = load_labelled_set("packaged", tmp_path)
    assert packaged.path == packaged_eval_set_path() and len(packaged.items) == 72 and len(packaged.fingerprint) == 12


class _AxisEmbedder:
    """Instructions mentioning code point along x, sums along y, everything else along z."""

    def __init__(self, calls: list[int]) -> None:
        self.calls = calls

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return np.stack([_unit(("x", 1) if "code" in t else ("y", 1) if "sum" in t else ("z", 1)) for t in texts])


def _labelled() -> LabelledSet:
    def row(n: int, text: str, category: str, difficulty: str) -> LabelledInstruction:
        labels = {"task_category": category, "difficulty": difficulty, "input_quality": "good"}
        return LabelledInstruction(f"l{n}", text, labels)

    items = (
        row(1, "fix my code", "Coding & Debugging", "hard"), row(2, "review this code", "Coding & Debugging", "hard"),
        row(3, "a sum to do", "Math", "easy"), row(4, "another sum", "Math", "easy"),
        row(5, "hello there", "Others", "very easy"),
    )  # fmt: skip
    return LabelledSet(items, "f00d", Path("labels.jsonl"))


def test_the_taggers_answer_from_one_embedding_per_instruction_and_never_open_the_judge():
    calls: list[int] = []

    def no_judge(label, connection):
        raise AssertionError(f"the LLM judge was opened for {label}")

    judging = Judging.model_validate({"judge": {"engine": "llama_cpp", "model": "j.gguf"}, "classifier": {}})
    found = taggers(judging, Openers(no_judge, no_judge, lambda model, size: _AxisEmbedder(calls)), _labelled())
    by_tag = {tagger.version.tag: tagger for tagger in found}
    assert set(by_tag) == {"difficulty", "quality", "category", "language"}
    assert by_tag["category"].version.judge_model == "centroid:packaged:all-minilm-l6-v2"
    assert by_tag["category"].version.prompt_version == classifier_prompt_version("f00d") == "centroid-v1:labels-f00d"
    assert by_tag["category"].held_out() is None  # nothing fitted yet: no model loaded
    items = [JudgeItem("c1", "please fix this code"), JudgeItem("c2", "what is this sum")]
    results = {tag: [r for batch in by_tag[tag].batches(items) for r in batch] for tag in ("category", "difficulty")}
    assert [r.columns for r in results["category"]] == [
        {"task_category": "Coding & Debugging", "other_task_category": []},
        {"task_category": "Math", "other_task_category": []},
    ]
    assert [r.columns for r in results["difficulty"]] == [{"difficulty": "hard"}, {"difficulty": "easy"}]
    assert all(r.ok and r.attempts == 1 and r.completion_tokens == 0 for r in results["category"])
    assert calls == [5, 2]  # the labelled set once, the two instructions once for both tags
    score = by_tag["category"].held_out()
    assert (score.rows, score.baseline_accuracy) == (5, 0.4)
    # held out, each code and sum row still has its twin; "hello there" (the only Others) cannot be given
    assert score.accuracy == 0.8


@pytest.fixture(scope="module")
def packaged_tagger() -> EmbeddingTagger:
    from magpie_dagster.engines.embeddings import SentenceEmbedder

    embedders: dict = {}

    def open_embedder(model: str, batch_size: int):
        return embedders.setdefault(model, SentenceEmbedder(model, batch_size))

    return EmbeddingTagger(ClassifierEntry(), load_labelled_set("packaged", Path(".")), open_embedder)


def test_held_out_on_the_packaged_labels_the_real_classifier_beats_a_constant_on_every_tag(packaged_tagger):
    """On any CPU: float differences move a prediction or two, not these margins (measured: category 65% vs 8%,
    difficulty QWK 0.48, input quality QWK 0.43; a constant's QWK is 0)."""
    scores = {tag: packaged_tagger.held_out(tag) for tag in ("category", "difficulty", "quality")}
    assert {score.rows for score in scores.values()} == {72}
    assert scores["category"].accuracy >= 4 * scores["category"].baseline_accuracy
    assert scores["difficulty"].kappa > 0.3 and scores["quality"].kappa > 0.3
    assert scores["difficulty"].accuracy >= scores["difficulty"].baseline_accuracy - 0.03
    assert scores["quality"].accuracy > scores["quality"].baseline_accuracy
    # held out means held out: scoring on its own training rows without leaving them out would look better
    labelled = packaged_tagger.labelled.items
    fitted = packaged_tagger.tag("category", [JudgeItem(i.id, i.instruction) for i in labelled])
    seen = sum(r.columns["task_category"] == i.labels["task_category"] for r, i in zip(fitted, labelled, strict=True))
    assert seen / 72 > scores["category"].accuracy


def test_eval_judge_reports_the_default_classifier_held_out_beside_the_constant(packaged_tagger, tmp_path, capsys):
    from magpie_dagster.cli.main import main

    scores_json = tmp_path / "scores.json"
    assert main(["eval-judge", "--json", str(scores_json)]) == 0  # the shipped catalogue: no judge tag left
    printed = capsys.readouterr().out
    scores = json.loads(scores_json.read_text())
    assert [(s["tag"], s["judge_model"]) for s in scores] == [
        (tag, "centroid:packaged:all-minilm-l6-v2") for tag in ("difficulty", "quality", "category")
    ]
    for score in scores:
        assert score["accuracy"] == packaged_tagger.held_out(score["tag"]).accuracy and score["rows"] == 72
    assert "| centroid:packaged:all-minilm-l6-v2 | category (task_category) | centroid-v1:labels-" in printed
    assert "rows held out" in printed
