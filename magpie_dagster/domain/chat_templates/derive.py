"""Derives a pre-query template and stop strings from any chat template, so an unlisted model needs no code.

Magpie's pre-query template is whatever the model's own template renders before the user's text. Rendering a
conversation whose user message is a sentinel and cutting at the sentinel gives exactly that, for any
format, including default system turns and multi-turn history.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from magpie_dagster.domain.chat_templates.render import (
    ChatTemplateError,
    Message,
    TemplateRaised,
    render_chat,
)
from magpie_dagster.domain.completion import ModelChatTemplate

SENTINEL_USER = "MagpieSentinelUser7f3a"
SENTINEL_ASSISTANT = "MagpieSentinelAssistant7f3a"

# Control tokens as chat formats spell them: <|im_end|>, <｜User｜>, <end_of_turn>, </s>, [INST].
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]+\|>|<｜[^<>｜]+｜>|</?[a-z_]+>|\[/?[A-Z_]+\]")
# Reasoning markers are part of the answer, not the end of a turn.
_NOT_STOPS = frozenset({"<think>", "</think>"})


def pre_query_prefix(
    template: ModelChatTemplate, conversation: Sequence[Message], pinned_date: dt.date
) -> str:
    """What the template renders before the next user message of `conversation`."""
    rendered = render_chat(
        template,
        [*conversation, Message(role="user", content=SENTINEL_USER)],
        add_generation_prompt=False,
        pinned_date=pinned_date,
    )
    cut = rendered.find(SENTINEL_USER)
    if cut < 0:
        raise ChatTemplateError(
            "The chat template does not render the user's message text, so no pre-query template can be "
            "derived from it; set `template` to a known family in the catalogue."
        )
    return rendered[:cut]


def derive_stop_strings(template: ModelChatTemplate, pinned_date: dt.date) -> tuple[str, ...]:
    """Every control token the template renders around turns, plus its BOS/EOS and declared special tokens."""
    conversation = [
        Message(role="user", content=SENTINEL_USER),
        Message(role="assistant", content=SENTINEL_ASSISTANT),
        Message(role="user", content=SENTINEL_USER),
    ]
    rendered = render_chat(template, conversation, add_generation_prompt=True, pinned_date=pinned_date)
    markup = rendered.replace(SENTINEL_USER, "\n").replace(SENTINEL_ASSISTANT, "\n")
    found = [token for token in _SPECIAL_TOKEN.findall(markup) if token not in _NOT_STOPS]
    declared = [template.eos_token, template.bos_token, *template.extra_special_tokens]
    return unique_in_order([*found, *(token for token in declared if token)])


def accepts_system_turn(template: ModelChatTemplate, pinned_date: dt.date) -> bool:
    """False for templates that refuse a system message (Gemma-2 raises) or silently drop it."""
    probe = "MagpieSentinelSystem7f3a"
    try:
        rendered = render_chat(
            template,
            [Message(role="system", content=probe), Message(role="user", content=SENTINEL_USER)],
            add_generation_prompt=False,
            pinned_date=pinned_date,
        )
    except TemplateRaised:
        return False
    return probe in rendered


def unique_in_order(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
