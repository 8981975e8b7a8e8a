"""Chat formats: pre-query templates, response prompts and stop strings, for named families or any template."""

from magpie_dagster.domain.chat_templates.chat_format import ChatFormat, TemplateVariant
from magpie_dagster.domain.chat_templates.derive import derive_stop_strings, pre_query_prefix
from magpie_dagster.domain.chat_templates.families import FAMILIES, get_family
from magpie_dagster.domain.chat_templates.render import ChatTemplateError, Message, render_chat
from magpie_dagster.domain.chat_templates.sources import load_chat_template

__all__ = [
    "FAMILIES",
    "ChatFormat",
    "ChatTemplateError",
    "Message",
    "TemplateVariant",
    "derive_stop_strings",
    "get_family",
    "load_chat_template",
    "pre_query_prefix",
    "render_chat",
]
