"""A catalogue entry's generation settings: its steering system prompts, the template probe
(`domain.generation.probe`) that judges a new partition, and the retries of a failed step."""

from __future__ import annotations

from pydantic import Field, field_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.tagging.labels import TASK_CATEGORIES


class ProbeSettings(Strict):
    """`probe` in a catalogue entry: limits on the share of probe samples showing each sign of a wrong template."""

    enabled: bool = True
    samples: int = Field(16, ge=1, le=1024)
    max_template_echo: float = Field(0.25, ge=0.0, le=1.0)
    max_empty: float = Field(0.25, ge=0.0, le=1.0)
    max_truncated: float = Field(0.5, ge=0.0, le=1.0)
    max_reasoning: float = Field(0.25, ge=0.0, le=1.0)
    max_no_language: float = Field(0.5, ge=0.0, le=1.0)


class SystemPrompt(Strict):
    """A steering system turn; `text: null` keeps the template's own default system turn.

    `category`: the task category the prompt steers toward; with a target and a recipe's category shares,
    later rounds draw prompts of categories still short more often."""

    name: str = Field(min_length=1)
    text: str | None = None
    weight: float = Field(1.0, gt=0.0)
    category: str | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, category: str | None) -> str | None:
        if category is not None and category not in TASK_CATEGORIES:
            raise ValueError(f"unknown task category {category!r}; use one of: {', '.join(TASK_CATEGORIES)}")
        return category


class RetrySettings(Strict):
    """How Dagster retries a generation step that failed on a transient engine fault; each retry resumes from
    the batches already stored. `max_retries: 0` turns retries off."""

    max_retries: int = Field(2, ge=0, le=20)
    delay_s: float = Field(10.0, ge=0.0, le=3600.0)
