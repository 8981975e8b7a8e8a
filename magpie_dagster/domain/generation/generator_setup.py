"""Chooses the chat format of a catalogue entry: a known family, or derived from the model's own template."""

from __future__ import annotations

import datetime as dt

from magpie_dagster.domain.catalogue import GeneratorEntry
from magpie_dagster.domain.chat_templates import ChatFormat, ChatTemplateError, load_chat_template
from magpie_dagster.domain.completion import GenerationEngine


def chat_format_for(entry: GeneratorEntry, engine: GenerationEngine, pinned_date: dt.date) -> ChatFormat:
    """Dates in templates (Llama-3.1's "Today Date") are pinned to the partition date, so re-runs match."""
    if entry.template != "auto":
        return ChatFormat.from_family(entry.template, pinned_date=pinned_date)
    if entry.chat_template_file:
        model_template = load_chat_template(entry.chat_template_file)
    else:
        model_template = engine.chat_template()
    if model_template is None:
        raise ChatTemplateError(
            f"Model {entry.key!r} has `template: auto`, but the {engine.engine_name} engine cannot read the "
            "model's chat template. Set `template` to a known family (e.g. llama-3, qwen2.5, smollm2) or "
            "`chat_template_file` to the model's tokenizer_config.json or a .jinja file."
        )
    return ChatFormat.from_model_template(model_template, pinned_date=pinned_date)
