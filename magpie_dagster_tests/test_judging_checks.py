"""The pure validators behind the tagging asset's checks, on hand-checked counts."""

from __future__ import annotations

from magpie_dagster.domain.tagging.checks import degenerate_labels, failure_rates_over, labels_outside_sets


def test_failure_rates_over_their_thresholds_only():
    outcomes = {"difficulty": {"ok": 8, "failed": 2}, "quality": {"ok": 7, "failed": 3}, "category": {"ok": 5}}
    assert failure_rates_over(outcomes, {"difficulty": 0.2, "quality": 0.2, "category": 0.0}) == {"quality": 0.3}
    assert failure_rates_over({"safety": {"failed": 1}}, {}) == {}, "no threshold: never over"
    assert failure_rates_over({"difficulty": {}}, {"difficulty": 0.0}) == {}, "no rows: no rate"


def test_labels_outside_their_sets_are_listed_and_unjudged_rows_allowed():
    counts = {
        "difficulty": {"easy": 3, "trivial": 1, None: 2},
        "task_category": {"Math": 4, "Cooking": 1},
        "safety": {"safe": 5, "maybe": 1},
        "language": {"xx": 9},  # not a closed set
    }
    assert labels_outside_sets(counts) == {"difficulty": ["trivial"], "task_category": ["Cooking"], "safety": ["maybe"]}


def test_one_label_on_nine_rows_in_ten_is_degenerate_and_eight_is_not():
    nine = {"difficulty": {"very easy": 9, "hard": 1}, "input_quality": {"good": 8, "poor": 2}}
    assert degenerate_labels(nine, max_share=0.9) == {"difficulty": {"label": "very easy", "share": 0.9, "rows": 10}}
    assert degenerate_labels(nine, max_share=0.8) == {
        "difficulty": {"label": "very easy", "share": 0.9, "rows": 10},
        "input_quality": {"label": "good", "share": 0.8, "rows": 10},
    }


def test_degeneracy_ignores_unjudged_rows_small_partitions_language_and_safety():
    assert degenerate_labels({"difficulty": {"easy": 9, None: 50}}, max_share=0.9) == {}, "9 judged rows: too few"
    assert degenerate_labels({"difficulty": {"easy": 10, None: 50}}, 0.9)["difficulty"]["share"] == 1.0
    assert degenerate_labels({"language": {"en": 100}, "safety": {"safe": 100}}, max_share=0.9) == {}
    assert degenerate_labels({}, max_share=0.9) == {}
