"""The judged tags: what each asks (prompt), the JSON schema a constrained engine must follow, and how an
answer becomes the released datasets' columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from magpie_dagster.domain.tagging.labels import (
    DIFFICULTY,
    INPUT_QUALITY,
    TASK_CATEGORIES,
    LabelError,
    normalise_label,
)
from magpie_dagster.domain.tagging.parse import JudgeAnswerError, extract_json_object
from magpie_dagster.domain.tagging.prompts import PROMPT_VERSIONS, PROMPTS, JudgePrompt

MAX_OTHER_TAGS = 3
# Free-text fields end within this many characters: a small judge otherwise repeats a phrase inside them until
# max_tokens, which cost the quality tag 312 tokens a row (and 4x its time) for the same label.
MAX_TEXT_CHARS = 200
_BOUNDED_TEXT = {"type": "string", "maxLength": MAX_TEXT_CHARS}


@dataclass(frozen=True)
class TagSpec:
    name: str
    prompt: JudgePrompt
    json_schema: dict[str, Any]
    columns: tuple[str, ...]
    to_columns: Callable[[dict[str, Any]], dict[str, Any]]
    # How the raw answer becomes a dict: a JSON object by default; guard models answer in plain words.
    reader: Callable[[str], dict[str, Any]] = extract_json_object

    def parse(self, answer: str) -> dict[str, Any]:
        """The tag's columns from a raw answer; raises `JudgeAnswerError` with the reason."""
        try:
            return self.to_columns(self.reader(answer))
        except LabelError as error:
            raise JudgeAnswerError(str(error)) from error


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise JudgeAnswerError(f"missing or empty field {field!r}")
    return value.strip()


def _difficulty(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "intent": _text(data, "intent"),
        "knowledge": _text(data, "knowledge"),
        "difficulty": normalise_label("difficulty", data.get("difficulty")),
    }


def _quality(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "quality_explanation": _text(data, "quality_explanation"),
        "input_quality": normalise_label("input_quality", data.get("input_quality")),
    }


def _category(data: dict[str, Any]) -> dict[str, Any]:
    primary = normalise_label("task_category", data.get("primary_tag"))
    others = data.get("other_tags") or []
    if isinstance(others, str):
        others = [others]
    if not isinstance(others, list):
        raise JudgeAnswerError("other_tags must be a list of categories")
    secondary: list[str] = []
    for other in others:
        try:
            label = normalise_label("task_category", other)
        except LabelError:
            continue  # a wrong secondary label loses only itself; the primary one is what curation uses
        if label != primary and label not in secondary:
            secondary.append(label)
    return {"task_category": primary, "other_task_category": secondary}


def _score(data: dict[str, Any]) -> dict[str, Any]:
    score = data.get("score")
    if isinstance(score, str):
        try:
            score = float(score.strip())
        except ValueError:
            score = None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 10:
        raise JudgeAnswerError(f"score {data.get('score')!r} is not a number from 1 to 10")
    return {"instruct_reward": float(score)}


TAGS: dict[str, TagSpec] = {
    spec.name: spec
    for spec in (
        TagSpec(
            "difficulty",
            PROMPTS["difficulty"],
            _object(
                {
                    "intent": _BOUNDED_TEXT,
                    "knowledge": _BOUNDED_TEXT,
                    "difficulty": {"type": "string", "enum": list(DIFFICULTY)},
                }
            ),
            ("intent", "knowledge", "difficulty"),
            _difficulty,
        ),
        TagSpec(
            "quality",
            PROMPTS["quality"],
            _object(
                {
                    "quality_explanation": _BOUNDED_TEXT,
                    "input_quality": {"type": "string", "enum": list(INPUT_QUALITY)},
                }
            ),
            ("quality_explanation", "input_quality"),
            _quality,
        ),
        TagSpec(
            "category",
            PROMPTS["category"],
            _object(
                {
                    "primary_tag": {"type": "string", "enum": list(TASK_CATEGORIES)},
                    # Capped: a small judge otherwise lists categories until max_tokens (384 tokens a row).
                    "other_tags": {
                        "type": "array",
                        "items": {"type": "string", "enum": list(TASK_CATEGORIES)},
                        "maxItems": MAX_OTHER_TAGS,
                    },
                }
            ),
            ("task_category", "other_task_category"),
            _category,
        ),
        TagSpec(
            "reward",
            PROMPTS["reward"],
            _object({"score": {"type": "integer", "minimum": 1, "maximum": 10}}),
            ("instruct_reward",),
            _score,
        ),
    )
}
JUDGED_TAGS = ("difficulty", "quality", "category")


def prompt_versions_of(tag: str) -> list[str]:
    return [version for version, prompt in PROMPT_VERSIONS.items() if prompt.tag == tag]


def spec_with_prompt(version: str) -> TagSpec:
    """A judged tag's spec asked with prompt `version` instead of the one in use."""
    prompt = PROMPT_VERSIONS.get(version)
    if prompt is None or prompt.tag not in JUDGED_TAGS:
        known = ", ".join(v for tag in JUDGED_TAGS for v in prompt_versions_of(tag))
        raise ValueError(f"unknown prompt version {version!r}; versions: {known}")
    return replace(TAGS[prompt.tag], prompt=prompt)
