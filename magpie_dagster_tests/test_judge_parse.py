"""The lenient judge-answer parser on the malformed answers small judges actually produce."""

from __future__ import annotations

import pytest

from magpie_dagster.domain.tagging.labels import LabelError, normalise_label
from magpie_dagster.domain.tagging.parse import JudgeAnswerError, extract_json_object
from magpie_dagster.domain.tagging.safety import read_guard_verdict
from magpie_dagster.domain.tagging.tags import TAGS

QUALITY = TAGS["quality"]
DIFFICULTY = TAGS["difficulty"]
CATEGORY = TAGS["category"]

PARSEABLE = [
    ('{"quality_explanation": "Clear.", "input_quality": "good"}', "good"),
    ('```json\n{"quality_explanation": "Clear.", "input_quality": "good"}\n```', "good"),
    ('```\n{"quality_explanation": "Clear.", "input_quality": "good"}\n```', "good"),
    ('Sure! Here is my rating:\n{"quality_explanation": "Clear.", "input_quality": "good"}\nHope it helps.', "good"),
    ("{'quality_explanation': 'Clear.', 'input_quality': 'good'}", "good"),
    ('{"quality_explanation": "Clear.", "input_quality": "good",}', "good"),
    ('{quality_explanation: "Clear.", input_quality: "good"}', "good"),
    ('{"quality_explanation": "Clear.", "input_quality": "Good"}', "good"),
    ('{"quality_explanation": "Clear.", "input_quality": " EXCELLENT "}', "excellent"),
    ('{"quality_explanation": "Clear.", "input_quality": "very_poor"}', "very poor"),
    ('{"quality_explanation": "Clear.", "input_quality": "Very-Poor"}', "very poor"),
    ('{"quality_explanation": "Clear.", "input_quality": "fair"}', "average"),
    ('{"quality_explanation": "It says \\"hi\\" only.", "input_quality": "poor"}', "poor"),
    ('{"quality_explanation": "Dit is duidelijk — très clair, 很清楚 🙂", "input_quality": "good"}', "good"),
    ('{"quality_explanation": "Uses {braces} and [brackets].", "input_quality": "average"}', "average"),
    ('{"quality_explanation": "Clear.", "input_quality": "good"', "good"),  # truncated: closing brace lost
    ('{"input_quality": "good", "quality_explanation": "Clear and spec', "good"),  # truncated mid-string
    ('{"quality_explanation": "Clear.", "input_quality": "good", "extra": 1}', "good"),
    ('{"quality_explanation": "Clear.",\n\n  "input_quality": "good"\n}\n\nExplanation: the request is clear.', "good"),
    ('The answer is {"quality_explanation": "It\'s clear.", "input_quality": "good"} as requested', "good"),
    ('{"quality_explanation": "Clear.", "input_quality": "good", "score": True}', "good"),
]


@pytest.mark.parametrize(("answer", "label"), PARSEABLE)
def test_malformed_but_meant_answers_parse(answer, label):
    assert QUALITY.parse(answer)["input_quality"] == label


FAILING = [
    ("", "empty answer"),
    ("   \n ", "empty answer"),
    ("I think the quality is good.", "no JSON object"),
    ('{"quality_explanation": "Clear.", "input_quality": "superb"}', "input_quality 'superb' is not one of"),
    ('{"quality_explanation": "Clear.", "input_quality": 4}', "input_quality 4 is not one of"),
    ('{"quality_explanation": "Clear."}', "input_quality None is not one of"),
    ('{"quality_explanation": "", "input_quality": "good"}', "missing or empty field 'quality_explanation'"),
    ('{"input_quality": "good"}', "missing or empty field 'quality_explanation'"),
    ("{{{{", "could not be parsed"),
    ('{"a": [1, 2', "missing or empty field"),
    ("[1, 2, 3]", "no JSON object"),
    ('{"quality_explanation": "ok", "input_quality": null}', "input_quality None"),
]


@pytest.mark.parametrize(("answer", "reason"), FAILING)
def test_unusable_answers_fail_with_a_reason(answer, reason):
    with pytest.raises(JudgeAnswerError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        QUALITY.parse(answer)


def test_difficulty_answer_gives_the_released_columns():
    columns = DIFFICULTY.parse(
        '{"intent": "The user wants to sort a list.", "knowledge": "To solve this problem, the models need to '
        'know Python.", "difficulty": "Very Easy"}'
    )
    assert columns == {
        "intent": "The user wants to sort a list.",
        "knowledge": "To solve this problem, the models need to know Python.",
        "difficulty": "very easy",
    }


def test_category_keeps_others_and_drops_unknown_secondary_labels():
    columns = CATEGORY.parse('{"primary_tag": "others", "other_tags": ["coding and debugging", "Cooking", "Others"]}')
    assert columns == {"task_category": "Others", "other_task_category": ["Coding & Debugging"]}
    with pytest.raises(JudgeAnswerError, match="task_category 'Cooking'"):
        CATEGORY.parse('{"primary_tag": "Cooking", "other_tags": []}')


def test_reward_score_must_be_within_one_to_ten():
    assert TAGS["reward"].parse('{"score": "8"}') == {"instruct_reward": 8.0}
    with pytest.raises(JudgeAnswerError, match="from 1 to 10"):
        TAGS["reward"].parse('{"score": 11}')


def test_extract_json_object_prefers_the_fenced_block():
    assert extract_json_object('{"a": 1}\n```json\n{"b": 2}\n```') == {"b": 2}


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("difficulty", "MEDIUM", "medium"),
        ("difficulty", "very  hard", "very hard"),
        ("difficulty", "difficult", "hard"),
        ("input_quality", "Excellent.", "excellent"),
        ("task_category", "math", "Math"),
        ("task_category", "Coding & debugging", "Coding & Debugging"),
        ("task_category", "role-playing", "Role playing"),
        ("task_category", "data_analysis", "Data analysis"),
        ("task_category", "OTHER", "Others"),
    ],
)
def test_label_normalisation(field, value, label):
    assert normalise_label(field, value) == label


def test_a_synonym_of_another_scale_is_not_accepted():
    with pytest.raises(LabelError, match="difficulty 'fair' is not one of: very easy, easy"):
        normalise_label("difficulty", "fair")


@pytest.mark.parametrize(
    ("answer", "verdict", "categories"),
    [
        ("safe", "safe", []),
        ("\n\nsafe", "safe", []),
        ("unsafe\nS1", "unsafe", ["Violent Crimes"]),
        ("unsafe\nS2,S10", "unsafe", ["Non-Violent Crimes", "Hate"]),
        ("Unsafe\ns11", "unsafe", ["Suicide & Self-Harm"]),
    ],
)
def test_guard_verdicts(answer, verdict, categories):
    assert read_guard_verdict(answer) == {"safety": verdict, "safety_categories": categories}


def test_a_guard_answer_that_is_no_verdict_fails():
    with pytest.raises(JudgeAnswerError, match="'safe' or 'unsafe'"):
        read_guard_verdict("This conversation seems fine to me.")
