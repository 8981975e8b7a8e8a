"""Preference pairs from k scored responses per instruction: chosen = best, rejected = worst, ties skipped.

The released preference sets store every response with its reward and the pair as chat messages; so do we.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from magpie_dagster.domain.seeds import derived_seed


@dataclass(frozen=True)
class PreferencePair:
    conversation_id: str
    instruction: str
    responses: tuple[str, ...]
    rewards: tuple[float, ...]
    chosen: tuple[dict[str, str], ...]
    rejected: tuple[dict[str, str], ...]
    chosen_reward: float
    rejected_reward: float
    chosen_index: int  # positions in `responses`
    rejected_index: int


def choose_pair(
    conversation_id: str,
    instruction: str,
    responses: Sequence[str],
    rewards: Sequence[float | None],
    min_margin: float = 1e-6,
) -> PreferencePair | None:
    """None when fewer than two responses were scored or the best and worst tie (within `min_margin`)."""
    scored = [(reward, index) for index, reward in enumerate(rewards) if reward is not None]
    if len(scored) < 2:
        return None
    # Best: highest reward, earliest sample on ties; worst: lowest reward, latest sample on ties.
    best_reward, best = max(scored, key=lambda item: (item[0], -item[1]))
    worst_reward, worst = min(scored, key=lambda item: (item[0], -item[1]))
    if best_reward - worst_reward <= min_margin:
        return None
    user = {"role": "user", "content": instruction}
    return PreferencePair(
        conversation_id=conversation_id,
        instruction=instruction,
        responses=tuple(responses),
        rewards=tuple(float("nan") if reward is None else reward for reward in rewards),
        chosen=(user, {"role": "assistant", "content": responses[best]}),
        rejected=(user, {"role": "assistant", "content": responses[worst]}),
        chosen_reward=best_reward,
        rejected_reward=worst_reward,
        chosen_index=best,
        rejected_index=worst,
    )


def sample_requests(prompt: str, samples: int, sampling, seed_base: int):
    """k completion requests for one rendered prompt, each with its own seed (one seed would repeat one sample)."""
    from magpie_dagster.domain.completion import CompletionRequest

    return [CompletionRequest(prompt=prompt, sampling=sampling, seed=seed_base + index) for index in range(samples)]


def preference_seed(conversation_id: str, night: dt.date) -> int:
    """The first of a row's k sample seeds (`sample_requests` counts up from it)."""
    return derived_seed("preference", conversation_id, night.isoformat())


Score = Callable[[Mapping, list[str]], list[float | None]]  # a curated row and k responses -> one reward each


@dataclass(frozen=True)
class DrawnPairs:
    pairs: list[tuple[Mapping, PreferencePair]]  # each with the curated row it was drawn for
    ties: int
    scored: int


def draw_pairs(
    rows: Iterable[Mapping],
    sample: Callable[[Mapping], list[str]],
    score: Score,
    min_margin: float,
    on_progress: Callable[[int, int], None] = lambda scored, ties: None,
) -> DrawnPairs:
    """Samples k responses for each curated row, scores them and keeps a pair where best and worst differ."""
    pairs, ties, scored = [], 0, 0
    for row in rows:
        responses = sample(row)
        pair = choose_pair(
            row["conversation_id"], row["instruction"], responses, score(row, responses), min_margin
        )
        if pair is None:
            ties += 1
        else:
            pairs.append((row, pair))
        scored += 1
        on_progress(scored, ties)
    return DrawnPairs(pairs, ties, scored)


def answers_by_instruction(rows: Iterable[Mapping]) -> list[dict]:
    """Curated rows grouped per instruction, for pairs drawn across responders: one dict per instruction answered
    by two or more models, with its `responses` and their `response_models` (in row order)."""
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(
            row["instruction_id"], {**row, "conversation_id": row["instruction_id"], "responses": [],
                                    "response_models": []},
        )  # fmt: skip
        group["responses"].append(row["response"])
        group["response_models"].append(row["response_model"])
    return [group for group in groups.values() if len(group["responses"]) >= 2]
