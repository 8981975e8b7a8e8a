"""Recipes reproducing the paper's filtered releases (REFERENCE section 6), usable by name in the catalogue; each
first drops instructions that repeat a benchmark prompt (skipped when the catalogue lists no benchmark)."""

from __future__ import annotations

from magpie_dagster.domain.curation.recipe import Recipe

PRO_300K_FILTERED = Recipe.model_validate(
    {
        "name": "magpie-pro-300k-filtered",
        "rules": [
            {"rule": "not_contaminated"},
            {"rule": "min_label", "column": "input_quality", "at_least": "average"},
            {"rule": "above", "column": "min_neighbor_distance", "value": 0},
            {"rule": "above", "column": "instruct_reward", "value": -12},
            {"rule": "not_ending_with", "column": "instruction", "suffixes": [":"]},
            {"rule": "first_of_group"},
            {"rule": "longest", "column": "response", "keep": 300_000},
            {"rule": "shuffle", "seed": 42},
        ],
    }
)

AIR_300K_FILTERED = Recipe.model_validate(
    {
        "name": "magpie-air-300k-filtered",
        "rules": [
            {"rule": "not_contaminated"},
            {"rule": "min_label", "column": "input_quality", "at_least": "good"},
            {"rule": "min_label", "column": "difficulty", "at_least": "medium"},
            {"rule": "above", "column": "min_neighbor_distance", "value": 0},
            {"rule": "unavailable", "description": "reward_difference>0",
             "needs": "rewards of the base model's responses to the same instructions (not produced here)"},
            {"rule": "first_of_group"},
            {"rule": "longest", "column": "response", "keep": 300_000},
            {"rule": "shuffle", "seed": 42},
        ],
    }
)

PRESETS = {recipe.name: recipe for recipe in (PRO_300K_FILTERED, AIR_300K_FILTERED)}
