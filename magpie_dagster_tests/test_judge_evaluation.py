"""Measuring a judge: the metrics on hand-checked examples, the packaged labelled set, and `eval-judge` itself."""

from __future__ import annotations

import json
import re

import pytest

from magpie_dagster.cli.main import main
from magpie_dagster.domain.tagging.evaluation import (
    EvalSetError,
    confusion_matrix,
    evaluate_judge,
    load_eval_set,
    quadratic_weighted_kappa,
    score_labels,
    within_one,
)
from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES
from magpie_dagster.domain.tagging.prompts import PROMPT_VERSIONS, PROMPTS
from magpie_dagster.domain.tagging.tags import JUDGED_TAGS, spec_with_prompt
from magpie_dagster.engines.fake import FakeEngine
from magpie_dagster_tests.fakes import JUDGE_SCRIPTS

GOLD = ["very easy", "easy", "medium", "hard"]
PREDICTED = ["very easy", "medium", "medium", None]  # one exact miss by a step, one failed judgement


def test_metrics_on_a_hand_checked_example():
    assert within_one(GOLD, PREDICTED, DIFFICULTY) == 0.75
    # Answered pairs (0,0), (1,2), (2,2); weights (i-j)^2/16: observed 1/16, expected 5/16 -> 1 - 1/5.
    assert quadratic_weighted_kappa(GOLD, PREDICTED, DIFFICULTY) == pytest.approx(0.8)
    score = score_labels("difficulty", "difficulty", "difficulty-v1", "m", GOLD, PREDICTED)
    assert (score.rows, score.failed, score.accuracy) == (4, 1, 0.5)
    assert score.kappa == pytest.approx(0.8)
    assert score.confusion == (
        (1, 0, 0, 0, 0, 0),
        (0, 0, 1, 0, 0, 0),
        (0, 0, 1, 0, 0, 0),
        (0, 0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0, 0),
    )


def test_constant_labels_score_zero_kappa_and_set_the_baseline():
    gold = ["easy", "easy", "easy", "medium", "very hard"]
    assert quadratic_weighted_kappa(gold, ["easy"] * 5, DIFFICULTY) == 0.0
    assert quadratic_weighted_kappa(gold, gold, DIFFICULTY) == pytest.approx(1.0)
    score = score_labels("difficulty", "difficulty", "v", "m", gold, ["hard"] * 5)
    assert (score.baseline_label, score.baseline_accuracy) == ("easy", 0.6)
    # "easy" or "medium" as a constant is within one step of four of the five gold labels
    assert score.baseline_within_one == 0.8
    assert score.within_one == 0.4 and score.accuracy == 0.0


def test_nominal_tags_have_no_kappa_or_within_one():
    score = score_labels("category", "task_category", "v", "m", ["Math", "Others"], ["Math", "Math"])
    assert (score.accuracy, score.kappa, score.within_one, score.baseline_within_one) == (0.5, None, None, None)
    assert confusion_matrix(["Math"], ["Others"], TASK_CATEGORIES)[TASK_CATEGORIES.index("Math")][-2] == 1


def test_packaged_set_covers_every_label():
    items = load_eval_set()
    assert len(items) >= 60
    assert len({item.id for item in items}) == len(items)
    categories = [item.labels["task_category"] for item in items]
    assert {category: categories.count(category) >= 5 for category in TASK_CATEGORIES} == dict.fromkeys(
        TASK_CATEGORIES, True
    )
    assert {item.labels["difficulty"] for item in items} == set(DIFFICULTY)
    assert {item.labels["input_quality"] for item in items} == set(INPUT_QUALITY)
    # a short run (--limit 12) still sees every category: the file interleaves them
    assert {item.labels["task_category"] for item in items[:12]} == set(TASK_CATEGORIES)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not a JSON object"),
        (
            '{"id": "b", "instruction": "Hi", "task_category": "Math", "difficulty": "easy"}',
            "line 2: field 'input_quality'",
        ),
        (
            '{"id": "b", "instruction": "Hi", "task_category": "Maths!", "difficulty": "easy", '
            '"input_quality": "good"}',
            "line 2: task_category 'Maths!' is not one of",
        ),
        (
            '{"id": "a", "instruction": "Hi", "task_category": "Math", "difficulty": "easy", "input_quality": "good"}',
            "line 2: id 'a' appears twice",
        ),
    ],
)
def test_malformed_set_is_refused_naming_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "labels.jsonl"
    good = json.dumps(
        {"id": "a", "instruction": "Hi", "task_category": "Others", "difficulty": "very easy", "input_quality": "good"}
    )
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match=re.escape(f"{path}, {message}")):
        load_eval_set(path)


def _oracle(request):
    """Answers each tag with the gold label of the instruction it is shown."""
    content = request.messages[-1]["content"]
    instruction = content.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
    labels = GOLD_BY_INSTRUCTION[instruction]
    if '"primary_tag"' in content:
        return json.dumps({"primary_tag": labels["task_category"], "other_tags": []})
    if '"input_quality"' in content:
        return json.dumps({"quality_explanation": "x", "input_quality": labels["input_quality"]})
    return json.dumps({"intent": "x", "knowledge": "y", "difficulty": labels["difficulty"]})


GOLD_BY_INSTRUCTION = {item.instruction: item.labels for item in load_eval_set()}
JUDGED_VERSIONS = [version for version, prompt in PROMPT_VERSIONS.items() if prompt.tag != "reward"]


def test_a_judge_that_knows_the_labels_scores_perfectly_with_every_prompt_version():
    scores = evaluate_judge(FakeEngine(answer_for=_oracle), load_eval_set(), JUDGED_VERSIONS)
    assert [score.prompt_version for score in scores] == JUDGED_VERSIONS
    assert {(score.accuracy, score.failed) for score in scores} == {(1.0, 0)}
    assert [score.kappa for score in scores if score.field != "task_category"] == [pytest.approx(1.0)] * 4


def test_a_constant_judge_scores_no_better_than_the_baseline():
    items = load_eval_set()
    versions = [PROMPTS[tag].version for tag in JUDGED_TAGS]
    scores = evaluate_judge(FakeEngine(answer_for=JUDGE_SCRIPTS["constant"]), items, versions)
    for score in scores:
        assert score.accuracy <= score.baseline_accuracy
        assert score.kappa in (None, 0.0)


def test_unknown_prompt_version_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown prompt version 'category-v9'; versions: .*category-v1"):
        spec_with_prompt("category-v9")


def test_cli_refuses_bad_arguments_before_loading_a_model(capsys):
    assert main(["eval-judge", "--prompt", "category-v9"]) == 2
    assert "unknown prompt version 'category-v9'" in capsys.readouterr().err
    assert main(["eval-judge", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "--base-url and --model go together" in capsys.readouterr().err


def test_cli_names_an_unreachable_judge_server(capsys):
    code = main(
        [
            "eval-judge",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "judge",
            "--limit",
            "2",
            "--prompt",
            "category-v1",
        ]
    )
    assert code == 2
    assert "127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_measures_the_embedded_judge(tmp_path, capsys):
    report, scores_json = tmp_path / "judge.md", tmp_path / "judge.json"
    code = main(
        ["eval-judge", "--limit", "4", "--prompt", "difficulty-v2", "--prompt", "category-v1"]
        + ["--report", str(report), "--json", str(scores_json)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.strip() == report.read_text(encoding="utf-8").strip()
    judge = "| SmolLM2-135M-Instruct.Q4_1"  # the engine's name for the packaged model
    assert f"{judge} | difficulty (difficulty) | difficulty-v2 | 4 |" in printed
    assert f"{judge} | category (task_category) | category-v1 | 4 |" in printed
    scores = json.loads(scores_json.read_text())
    assert [score["prompt_version"] for score in scores] == ["difficulty-v2", "category-v1"]
    for score in scores:
        assert score["rows"] == 4 and 0 <= score["failed"] <= 4
        assert sum(map(sum, score["confusion"])) == 4
        assert score["accuracy"] == pytest.approx(sum(row[i] for i, row in enumerate(score["confusion"])) / 4)
