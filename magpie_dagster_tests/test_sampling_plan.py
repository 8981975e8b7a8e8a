"""Sample identities and seeds are deterministic per partition and distinct across samples and partitions."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from magpie_dagster.domain.generation.config import SystemPrompt
from magpie_dagster.domain.generation.sampling_plan import conversation_id, plan_samples, sample_seed

NIGHT = dt.date(2026, 11, 20)


def test_plan_is_reproducible_and_seeds_are_distinct():
    first = plan_samples("m1", NIGHT, 500)
    assert first == plan_samples("m1", NIGHT, 500)
    assert len({sample.seed for sample in first}) == 500
    assert len({sample.conversation_id for sample in first}) == 500
    assert [sample.index for sample in first] == list(range(500))


def test_partitions_do_not_share_seeds_or_ids():
    tonight = plan_samples("m1", NIGHT, 200)
    tomorrow = plan_samples("m1", NIGHT + dt.timedelta(days=1), 200)
    other_model = plan_samples("m2", NIGHT, 200)
    seeds = [sample.seed for plan in (tonight, tomorrow, other_model) for sample in plan]
    assert len(set(seeds)) == 600
    assert conversation_id("m1", NIGHT, 0) != conversation_id("m2", NIGHT, 0)


def test_seed_purposes_differ_and_fit_in_31_bits():
    assert sample_seed("m1", NIGHT, 3) != sample_seed("m1", NIGHT, 3, "response_1")
    assert all(0 <= sample_seed("m1", NIGHT, index) < 2**31 for index in range(1000))


def test_system_prompts_are_drawn_by_weight():
    prompts = (SystemPrompt(name="math", weight=3.0, text="math"), SystemPrompt(name="plain", weight=1.0))
    counts = Counter(sample.system_prompt.name for sample in plan_samples("m1", NIGHT, 4000, prompts))
    assert 0.70 < counts["math"] / 4000 < 0.80
    assert plan_samples("m1", NIGHT, 50, prompts) == plan_samples("m1", NIGHT, 50, prompts)


def test_no_system_prompts_means_none():
    assert {sample.system_prompt for sample in plan_samples("m1", NIGHT, 10)} == {None}
