"""Lenient reading of judge answers: the JSON object a model meant, whatever it wrapped around it.

Small and unconstrained judges add prose, code fences, single quotes, trailing commas, Python literals, or stop
mid-object. Each of those is repaired here; what still is not an object raises `JudgeAnswerError` with a reason
that is stored beside the raw answer.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)")
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}


class JudgeAnswerError(ValueError):
    """The judge's answer holds no usable JSON object, or its fields are wrong."""


def extract_json_object(answer: str) -> dict[str, Any]:
    text = (answer or "").strip()
    if not text:
        raise JudgeAnswerError("empty answer")
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start = text.find("{")
    if start < 0:
        raise JudgeAnswerError("no JSON object in the answer")
    candidate = _balanced_object(text[start:])
    for attempt in _repairs(candidate):
        parsed = _load(attempt)
        if isinstance(parsed, dict):
            return parsed
    raise JudgeAnswerError("the JSON object in the answer could not be parsed, even after repairs")


def _balanced_object(text: str) -> str:
    """The object starting at text[0], cut at its closing brace, or closed if the answer was truncated."""
    closers: list[str] = []
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'" and (char == '"' or _opens_single_quoted(text, index)):
            quote = char
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if closers and closers[-1] == char:
                closers.pop()
            if not closers:
                return text[: index + 1]
    truncated = text + (quote or "")
    truncated = re.sub(r"[,:]\s*$", "", truncated.rstrip())
    truncated = re.sub(r',\s*"[^"]*"\s*$', "", truncated)  # a dangling key with no value
    return truncated + "".join(reversed(closers))


def _opens_single_quoted(text: str, index: int) -> bool:
    """A single quote opens a string only where JSON expects a value or key, not inside words (it's)."""
    before = text[:index].rstrip()
    return not before or before[-1] in "{[,:"


def _repairs(candidate: str):
    yield candidate
    repaired = _TRAILING_COMMA.sub(r"\1", candidate)
    yield repaired
    yield _BARE_KEY.sub(r'\1"\2"\3', repaired)
    python_like = repaired
    for python, json_literal in _PYTHON_LITERALS.items():
        python_like = re.sub(rf"\b{json_literal}\b", python, python_like)
    yield python_like


def _load(candidate: str) -> Any:
    try:
        return json.loads(candidate, strict=False)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(candidate)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
