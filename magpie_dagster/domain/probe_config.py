"""`probe` in a catalogue entry: how the template probe (`domain.generation.probe`) judges a new partition."""

from __future__ import annotations

from pydantic import Field

from magpie_dagster.domain.config_model import Strict


class ProbeSettings(Strict):
    """`probe` in a catalogue entry: limits on the share of probe samples showing each sign of a wrong template."""

    enabled: bool = True
    samples: int = Field(16, ge=1, le=1024)
    max_template_echo: float = Field(0.25, ge=0.0, le=1.0)
    max_empty: float = Field(0.25, ge=0.0, le=1.0)
    max_truncated: float = Field(0.5, ge=0.0, le=1.0)
    max_reasoning: float = Field(0.25, ge=0.0, le=1.0)
    max_no_language: float = Field(0.5, ge=0.0, le=1.0)
