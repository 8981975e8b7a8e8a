"""Reading an OpenAI-compatible server's answers: a completion or chat completion checked against the API's schema
(a body that does not fit says how, for the error after the last retry), its reasoning field, and short previews of
bodies and server messages for errors."""

from __future__ import annotations

import json
from collections.abc import Mapping

import openai
import pydantic
from openai.types import Completion as ApiCompletion
from openai.types.chat import ChatCompletion as ApiChatCompletion

from magpie_dagster.domain.completion import Completion, FinishReason

BODY_PREVIEW_CHARS = 200


def _finish_reason(reason: str | None) -> FinishReason:
    """Servers say "stop", "eos" or nothing when the model ended; only "length" means it was cut off."""
    return "length" if reason == "length" else "stop"


def server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])[:BODY_PREVIEW_CHARS]
    return preview(error.response.text if error.response is not None else error.message)


class Unfinished(str):
    """An answer cut off by the deadline or the connection: the text says how."""


class Malformed(Exception):
    """The answer is not the endpoint's JSON; the message says how, for the error after the last retry."""


def parse_completion(answer: dict | str) -> Completion:
    _require_choices(answer, "completions")
    if answer["choices"][0].get("text") is None:  # checked first: the schema would only say "string expected"
        raise Malformed("the choice's text is null")
    response = _validated(answer, ApiCompletion, "completions")
    choice = response.choices[0]
    return _completion(choice.text, response.usage, choice.finish_reason, _reasoning_field(answer["choices"][0]))


def parse_chat(answer: dict | str) -> Completion:
    _require_choices(answer, "chat completions")
    response = _validated(answer, ApiChatCompletion, "chat completions")
    choice = response.choices[0]
    message = answer["choices"][0].get("message")
    return _completion(
        choice.message.content or "", response.usage, choice.finish_reason,
        _reasoning_field(message if isinstance(message, dict) else {}),
    )  # fmt: skip


def _reasoning_field(part: dict) -> str | None:
    """The reasoning a server's reasoning parser split off (`reasoning_content`, or `reasoning` in newer vLLM)."""
    value = part.get("reasoning_content") or part.get("reasoning")
    return value if isinstance(value, str) else None


def _require_choices(answer: dict | str, api: str) -> None:
    if isinstance(answer, Unfinished):
        raise Malformed(str(answer))
    if not isinstance(answer, dict):
        raise Malformed(f"the body is not a {api} JSON object")
    if not answer.get("choices"):
        raise Malformed("no choices")
    if not isinstance(answer["choices"][0], dict):
        raise Malformed("the first choice is not a JSON object")


def _validated(answer: dict, answer_type: type[pydantic.BaseModel], api: str):
    try:
        return answer_type.model_validate(answer)
    except pydantic.ValidationError as error:
        first = ".".join(str(part) for part in error.errors()[0]["loc"])
        raise Malformed(
            f"the body does not fit the {api} schema ({error.error_count()} problem(s), first at {first})"
        ) from None


def _completion(text: str, usage, finish_reason: str | None, reasoning: str | None = None) -> Completion:
    return Completion(
        text=text,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        finish_reason=_finish_reason(finish_reason),
        reasoning=reasoning,
    )


def preview(body: object) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return " ".join(text.split())[:BODY_PREVIEW_CHARS]

