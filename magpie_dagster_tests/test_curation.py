"""Curation rules one by one, the first-dropping-rule bookkeeping, skipped rules, and the paper's presets."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from pydantic import ValidationError

from magpie_dagster.domain.curation.presets import AIR_300K_FILTERED, PRO_300K_FILTERED
from magpie_dagster.domain.curation.recipe import Recipe, apply_recipe


def rows(**overrides) -> pl.DataFrame:
    base = {
        "conversation_id": ["a", "b", "c", "d", "e"],
        "model": ["m"] * 5,
        "partition_date": [dt.date(2026, 11, 1)] * 5,
        "instruction": ["Sort a list.", "List three things:", "Explain tides.", "Explain tides!", "Hi"],
        "response": ["x" * 50, "y" * 10, "z" * 200, "w" * 300, "v" * 5],
        "input_quality": ["good", "average", "excellent", "poor", None],
        "difficulty": ["easy", "medium", "hard", "medium", "very easy"],
        "task_category": [
            "Coding & Debugging",
            "Brainstorming",
            "Information seeking",
            "Information seeking",
            "Others",
        ],
        "language": ["en", "en", "en", "de", "en"],
        "instruct_reward": [None] * 5,
        "min_neighbor_distance": [0.4, 0.3, 0.01, 0.01, 0.0],
        "min_similar_conversation_id": ["a", "b", "c", "c", "e"],
    }
    base.update(overrides)
    return pl.DataFrame(base)


def recipe(*rules) -> Recipe:
    return Recipe.model_validate({"name": "test", "rules": list(rules)})


def reasons(result) -> dict[str, str | None]:
    return dict(zip(result.rows["conversation_id"], result.rows["drop_reason"], strict=True))


@pytest.mark.parametrize(
    ("rule", "dropped"),
    [
        (
            {"rule": "min_label", "column": "input_quality", "at_least": "average"},
            {"d": "input_quality>=average", "e": "input_quality>=average"},
        ),
        (
            {"rule": "min_label", "column": "difficulty", "at_least": "medium"},
            {"a": "difficulty>=medium", "e": "difficulty>=medium"},
        ),
        ({"rule": "above", "column": "min_neighbor_distance", "value": 0}, {"e": "min_neighbor_distance>0"}),
        ({"rule": "first_of_group"}, {"d": "not_first_of_near_duplicate_group"}),
        ({"rule": "not_ending_with"}, {"b": "instruction_ends_with_:"}),
        (
            {"rule": "length", "column": "response", "min_chars": 10, "max_chars": 250},
            {"d": "response_length_10-250", "e": "response_length_10-250"},
        ),
        ({"rule": "allow", "column": "language", "values": ["en"]}, {"d": "language_not_in_en"}),
        (
            {"rule": "allow", "column": "task_category", "values": ["Others"], "exclude": True},
            {"e": "task_category_in_Others"},
        ),
        ({"rule": "category_cap", "per_category": 1}, {"c": "over_1_per_task_category"}),
        ({"rule": "longest", "keep": 2}, {"a": "not_in_longest_2", "b": "not_in_longest_2", "e": "not_in_longest_2"}),
    ],
)
def test_each_rule_drops_what_it_should(rule, dropped):
    result = apply_recipe(recipe(rule), rows())
    assert {key: value for key, value in reasons(result).items() if value} == dropped


def test_the_first_rule_that_drops_a_row_is_the_one_recorded():
    result = apply_recipe(
        recipe(
            {"rule": "min_label", "column": "input_quality", "at_least": "good"},
            {"rule": "allow", "column": "language", "values": ["en"]},
        ),
        rows(),
    )
    assert reasons(result)["d"] == "input_quality>=good"  # poor AND German: quality came first
    assert result.drop_counts() == {"kept": 2, "input_quality>=good": 3}


def test_rules_on_missing_values_are_skipped_and_reported():
    result = apply_recipe(recipe({"rule": "above", "column": "instruct_reward", "value": -12}), rows())
    assert result.skipped == {"instruct_reward>-12": "no values in column(s) instruct_reward"}
    assert result.kept.height == 5


def test_seeded_shuffle_orders_the_subset_reproducibly():
    first = apply_recipe(recipe({"rule": "shuffle", "seed": 42}), rows()).kept["conversation_id"].to_list()
    again = apply_recipe(recipe({"rule": "shuffle", "seed": 42}), rows()).kept["conversation_id"].to_list()
    other = apply_recipe(recipe({"rule": "shuffle", "seed": 7}), rows()).kept["conversation_id"].to_list()
    assert first == again and sorted(first) == ["a", "b", "c", "d", "e"] and first != other


def test_pro_preset_reports_the_reward_rule_it_skipped():
    result = apply_recipe(PRO_300K_FILTERED, rows())
    assert "instruct_reward>-12" in result.skipped
    # The longest responses first (c: 200 characters, a: 50), then the preset's shuffle with seed 42.
    assert result.kept["conversation_id"].to_list() == ["a", "c"]
    assert reasons(result)["b"] == "instruction_ends_with_:"


def test_air_preset_names_what_it_cannot_compute():
    result = apply_recipe(AIR_300K_FILTERED, rows())
    assert result.skipped["reward_difference>0"].startswith("needs rewards of the base model")
    assert set(result.kept["conversation_id"]) == {"c"}


def test_a_label_outside_the_scale_is_a_configuration_error():
    with pytest.raises(ValidationError, match="at_least 'great' is not one of"):
        recipe({"rule": "min_label", "column": "input_quality", "at_least": "great"})
