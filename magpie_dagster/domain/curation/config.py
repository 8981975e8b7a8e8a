"""`curation` in the catalogue: the recipe that turns a night's tagged, deduplicated rows into the subset."""

from __future__ import annotations

from pydantic import field_validator

from magpie_dagster.domain.config_model import Strict
from magpie_dagster.domain.curation.presets import PRESETS
from magpie_dagster.domain.curation.recipe import Recipe


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
