"""Reads a model's chat template from the files models ship with, for `template: auto` with no engine help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magpie_dagster.domain.chat_templates.render import ChatTemplateError
from magpie_dagster.domain.completion import ModelChatTemplate


def load_chat_template(path: str | Path) -> ModelChatTemplate:
    """A `tokenizer_config.json` (template, BOS/EOS and special tokens) or a bare `.jinja` file."""
    path = Path(path)
    if not path.is_file():
        raise ChatTemplateError(f"chat_template_file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".json":
        return ModelChatTemplate(template=text)
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ChatTemplateError(f"{path}: not valid JSON: {error}") from error
    return ModelChatTemplate(
        template=_default_template(config, path),
        bos_token=_token_text(config.get("bos_token")),
        eos_token=_token_text(config.get("eos_token")),
        extra_special_tokens=tuple(
            token["content"]
            for token in (config.get("added_tokens_decoder") or {}).values()
            if isinstance(token, dict) and token.get("special") and token.get("content")
        ),
    )


def _default_template(config: dict[str, Any], path: Path) -> str:
    template = config.get("chat_template")
    if isinstance(
        template, list
    ):  # named templates: [{"name": "default", "template": ...}, {"name": "tool_use"...}]
        named = {item.get("name"): item.get("template") for item in template if isinstance(item, dict)}
        template = named.get("default")
    if not isinstance(template, str) or not template:
        raise ChatTemplateError(
            f"{path}: no 'chat_template' (or no 'default' among named templates); this tokenizer has no chat "
            "format, so set `template` to a known family in the catalogue."
        )
    return template


def _token_text(token: Any) -> str:
    if isinstance(token, dict):
        return str(token.get("content") or "")
    return str(token or "")
