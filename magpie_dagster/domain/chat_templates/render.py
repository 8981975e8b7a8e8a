"""Renders a model's Jinja chat template exactly as Hugging Face's `apply_chat_template` does.

Same sandbox and whitespace options as transformers, the same helpers (`raise_exception`, `strftime_now`,
a `tojson` that keeps non-ASCII text), and the date pinned by the caller so a re-run renders the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

from jinja2 import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from magpie_dagster.domain.completion import ModelChatTemplate

Role = Literal["system", "user", "assistant"]


class ChatTemplateError(ValueError):
    """A chat template is unknown, cannot be rendered, or cannot do what the catalogue asks."""


class TemplateRaised(ChatTemplateError):
    """The template itself called `raise_exception` (e.g. Gemma-2 refusing a system turn)."""


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


def render_chat(
    template: ModelChatTemplate,
    messages: Sequence[Message],
    *,
    add_generation_prompt: bool,
    pinned_date: dt.date,
) -> str:
    compiled = _compile(template.template)
    try:
        return compiled.render(
            messages=[asdict(message) for message in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=template.bos_token,
            eos_token=template.eos_token,
            tools=None,
            documents=None,
            date_string=pinned_date.strftime("%d %b %Y"),
            strftime_now=lambda fmt: pinned_date.strftime(fmt),
            **dict(template.render_options),
        )
    except ChatTemplateError:
        raise
    except TemplateError as error:
        raise ChatTemplateError(f"The chat template failed to render: {error}") from error


def _raise_exception(message: str) -> None:
    raise TemplateRaised(message)


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys=False
):
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


@lru_cache(maxsize=64)
def _compile(source: str):
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    try:
        return environment.from_string(source)
    except TemplateError as error:
        raise ChatTemplateError(f"The chat template is not valid Jinja: {error}") from error
