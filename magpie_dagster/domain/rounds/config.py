"""`target` in the catalogue (or one entry): how many curated rows a model should end the night with, and when
to stop trying."""

from __future__ import annotations

from pydantic import Field

from magpie_dagster.domain.config_model import Strict


class Target(Strict):
    """`target` in a catalogue entry (or for every entry at the catalogue's top level)."""

    curated_rows: int = Field(ge=1, le=100_000_000)
    max_rounds: int = Field(4, ge=1, le=100)
    max_tokens: int | None = Field(None, ge=1)  # prompt + completion tokens of every stage, every attempt
    max_usd: float | None = Field(None, gt=0.0)  # money, from the entries' and judge's `price`
