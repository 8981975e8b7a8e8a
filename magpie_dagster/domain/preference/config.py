"""`preference` in the catalogue: how chosen/rejected pairs are drawn for the curated instructions."""

from __future__ import annotations

from pydantic import Field

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.engine_config import Sampling


class PreferenceSettings(Strict):
    """k responses per curated instruction, from the instruction's own generator, scored by `judging.reward`.

    `across_responders`: instead, the answers the entry's `responders` gave to the same curated instruction are
    scored against each other (no new sampling); instructions with fewer than two curated answers get no pair."""

    across_responders: bool = False
    samples: int = Field(5, ge=2, le=64)
    sampling: Sampling = Sampling(temperature=0.8, top_p=1.0, max_tokens=512)
    max_instructions: int | None = Field(None, ge=1)  # cap per night (the embedded model is slow)
    min_margin: float = Field(1e-6, ge=0.0)  # best - worst reward at or under this is a tie, skipped
