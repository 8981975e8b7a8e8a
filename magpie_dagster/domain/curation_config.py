"""The catalogue's dedup, curation and preference sections (all optional, with working defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.curation.presets import PRESETS
from magpie_dagster.domain.curation.recipe import Recipe
from magpie_dagster.domain.dedup.neighbours import DEFAULT_THRESHOLD
from magpie_dagster.domain.engine_config import Sampling


class DedupSettings(Strict):
    embedder: str = "packaged:all-minilm-l6-v2"  # or any sentence-transformers folder, e.g. all-mpnet-base-v2
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0.0, le=4.0)  # squared L2 on unit vectors
    batch_size: int = Field(64, ge=1, le=4096)


class CurationSettings(Strict):
    """`recipe`: a preset name (magpie-pro-300k-filtered, magpie-air-300k-filtered) or {name, rules}."""

    recipe: str | Recipe = "magpie-pro-300k-filtered"

    @field_validator("recipe")
    @classmethod
    def _known_preset(cls, recipe: str | Recipe) -> str | Recipe:
        if isinstance(recipe, str) and recipe not in PRESETS:
            raise ValueError(f"unknown recipe preset {recipe!r}; use one of: {', '.join(PRESETS)}, or {{name, rules}}")
        return recipe

    def resolved(self) -> Recipe:
        return PRESETS[self.recipe] if isinstance(self.recipe, str) else self.recipe


class PreferenceSettings(Strict):
    """k responses per curated instruction, from the instruction's own generator, scored by `judging.reward`.

    `across_responders`: instead, the answers the entry's `responders` gave to the same curated instruction are
    scored against each other (no new sampling); instructions with fewer than two curated answers get no pair."""

    across_responders: bool = False
    samples: int = Field(5, ge=2, le=64)
    sampling: Sampling = Sampling(temperature=0.8, top_p=1.0, max_tokens=512)
    max_instructions: int | None = Field(None, ge=1)  # cap per night (the embedded model is slow)
    min_margin: float = Field(1e-6, ge=0.0)  # best - worst reward at or under this is a tie, skipped


class ExportSettings(Strict):
    """`exports` in the catalogue. `reasoning`: what the files hold of a reasoning model's thinking: `omit` (the
    answers only), `inline` (the first answer as `<think>...</think>` then the answer, as reasoning SFT sets are
    written) or `field` (a separate `reasoning` field beside the conversation)."""

    reasoning: Literal["omit", "inline", "field"] = "omit"
