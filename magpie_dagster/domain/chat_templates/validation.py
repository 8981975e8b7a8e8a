"""Checks a catalogue entry's template choice when the catalogue loads, before any model is opened."""

from __future__ import annotations

import datetime as dt

from magpie_dagster.domain.chat_templates.derive import accepts_system_turn
from magpie_dagster.domain.chat_templates.families import get_family
from magpie_dagster.domain.chat_templates.render import ChatTemplateError

_ANY_DATE = dt.date(2024, 1, 1)


def template_family_problem(name: str, variant: str, *, steered: bool) -> str | None:
    """Why the named family cannot serve this entry, or None when it can."""
    try:
        family = get_family(name)
    except ChatTemplateError as error:
        return str(error)
    if variant == "reference" and family.reference_pre_query is None:
        return f"template family {family.name!r} has no reference pre-query template; use template_variant 'official'"
    if steered and not accepts_system_turn(family.model_template(), _ANY_DATE):
        return (
            f"template family {family.name!r} has no system turn, so system_prompts with `text` cannot steer it; "
            "remove their `text` or the system_prompts"
        )
    return None
