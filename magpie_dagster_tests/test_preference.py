"""Preference pair selection: best vs worst reward, ties and unscored responses handled."""

from __future__ import annotations

import math

from magpie_dagster.domain.completion import SamplingParams
from magpie_dagster.domain.preference.pairs import choose_pair, sample_requests


def test_chosen_is_the_best_and_rejected_the_worst():
    pair = choose_pair("c1", "Name a prime.", ["7", "4", "2 and 3", "9"], [0.5, -2.0, 3.0, -2.0])
    assert pair.chosen == ({"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "2 and 3"})
    assert pair.rejected[1]["content"] == "9"  # equal worst rewards: the later sample is rejected
    assert (pair.chosen_reward, pair.rejected_reward) == (3.0, -2.0)
    assert pair.responses == ("7", "4", "2 and 3", "9") and pair.rewards == (0.5, -2.0, 3.0, -2.0)


def test_all_equal_rewards_are_a_tie_and_skipped():
    assert choose_pair("c1", "q", ["a", "b", "c"], [1.0, 1.0, 1.0]) is None
    assert choose_pair("c1", "q", ["a", "b"], [1.0, 1.0 + 1e-9]) is None  # within the margin
    assert choose_pair("c1", "q", ["a", "b"], [1.0, 1.5], min_margin=0.5) is None


def test_unscored_responses_are_left_out_of_the_choice():
    pair = choose_pair("c1", "q", ["a", "b", "c"], [None, 2.0, 1.0])
    assert (pair.chosen[1]["content"], pair.rejected[1]["content"]) == ("b", "c")
    assert math.isnan(pair.rewards[0])
    assert choose_pair("c1", "q", ["a", "b"], [None, 2.0]) is None, "one scored response cannot make a pair"


def test_each_sample_gets_its_own_seed():
    requests = sample_requests("prompt", 5, SamplingParams(temperature=0.8), seed_base=100)
    assert [request.seed for request in requests] == [100, 101, 102, 103, 104]
    assert {request.sampling.temperature for request in requests} == {0.8}
