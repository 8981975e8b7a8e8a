"""A night's row target: how many curated rows a model should end the night with, and when to stop trying.

With a `target`, a partition is generated in rounds. After each round the night is curated, and the yield
measured so far (curated rows / samples planned) predicts how many new samples the next round needs; seeds
continue from the last sample index, so a round is the same samples whenever it runs. A round's size is also
cut to what the budget left can pay for at the cost per sample measured so far.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from magpie_dagster.domain.curation.rules import ShareBounds
from magpie_dagster.domain.generation.config import SystemPrompt
from magpie_dagster.domain.rounds.config import Target

TARGET_MET = "target met"
BUDGET_SPENT = "budget spent"
MAX_ROUNDS = "max rounds"
STOP_REASONS = (TARGET_MET, BUDGET_SPENT, MAX_ROUNDS)

# A round asks for this much more than the measured yield predicts, so a slightly unlucky round does not
# cost a whole extra round of judging and curation.
SAFETY_MARGIN = 1.25
# A round never plans more than this many times what was planned before (a tiny yield is a noisy estimate);
# one with no curated row yet has no yield to go by and doubles it.
MAX_GROWTH = 8
# How much more often a short category's system prompts are drawn in the next round, at most.
MAX_STEER = 4.0


@dataclass(frozen=True)
class NightSoFar:
    """One model's night after a round: what it planned, what curation kept, what it spent (every attempt)."""

    round: int
    planned_samples: int
    curated: int  # rows the recipe kept before the target's cut
    tokens: int
    cost_usd: float

    @property
    def yield_(self) -> float:
        return self.curated / self.planned_samples if self.planned_samples else 0.0


@dataclass(frozen=True)
class RoundDecision:
    stop_reason: str | None  # one of STOP_REASONS, or None: another round of `next_samples` planned samples
    next_samples: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None


def decide(target: Target, night: NightSoFar) -> RoundDecision:
    """Stop (and why) or how many samples the partition's next round plans in all."""
    if night.curated >= target.curated_rows:
        return RoundDecision(TARGET_MET)
    if _spent(target, night):
        return RoundDecision(BUDGET_SPENT)
    if night.round >= target.max_rounds:
        return RoundDecision(MAX_ROUNDS)
    more = _samples_predicted(target.curated_rows - night.curated, night)
    affordable = _affordable_samples(target, night)
    if affordable is not None:
        if affordable < 1:
            return RoundDecision(BUDGET_SPENT)
        more = min(more, affordable)
    return RoundDecision(None, night.planned_samples + more)


def first_round_samples(target: Target, default: int, measured_yield: float | None) -> int:
    """Round 1's size: the yield of the model's earlier nights predicts it (at most `MAX_GROWTH` times the entry's
    `instructions_per_batch`); without one, the entry's `instructions_per_batch`."""
    if not measured_yield:
        return default
    return max(1, min(math.ceil(target.curated_rows / measured_yield * SAFETY_MARGIN), default * MAX_GROWTH))


def _samples_predicted(missing_rows: int, night: NightSoFar) -> int:
    if night.planned_samples == 0:  # nothing sampled yet (a night stored empty before it had a target)
        return math.ceil(missing_rows * SAFETY_MARGIN)
    if night.curated == 0:
        return night.planned_samples
    predicted = math.ceil(missing_rows / night.yield_ * SAFETY_MARGIN)
    return max(1, min(predicted, night.planned_samples * MAX_GROWTH))


def _spent(target: Target, night: NightSoFar) -> bool:
    over_tokens = target.max_tokens is not None and night.tokens >= target.max_tokens
    over_money = target.max_usd is not None and night.cost_usd >= target.max_usd
    return over_tokens or over_money


def _affordable_samples(target: Target, night: NightSoFar) -> int | None:
    """New samples the budget left pays for at the spend per sample measured so far (None: no budget set)."""
    if not night.planned_samples:
        return None
    limits = []
    if target.max_tokens is not None and night.tokens:
        limits.append((target.max_tokens - night.tokens) / (night.tokens / night.planned_samples))
    if target.max_usd is not None and night.cost_usd:
        limits.append((target.max_usd - night.cost_usd) / (night.cost_usd / night.planned_samples))
    return math.floor(min(limits)) if limits else None


def steered_weights(
    prompts: Sequence[SystemPrompt], filled: Mapping[str, float], shares: Mapping[str, ShareBounds]
) -> dict[str, float]:
    """System prompt name -> its weight for the next round. `filled`: a category's kept rows / the target's rows.

    The subset holds every share by construction, so a category is short when its rows are too few for its
    minimum share *of the target*: its prompts are drawn up to `MAX_STEER` times as often (in proportion to the
    shortfall); a category with its maximum share of the target already is drawn half as often."""
    weights = {}
    for prompt in prompts:
        weight = prompt.weight
        bounds = shares.get(prompt.category) if prompt.category else None
        if bounds is not None:
            have = filled.get(prompt.category, 0.0)
            if have < bounds.min:
                weight *= min(MAX_STEER, bounds.min / max(have, bounds.min / MAX_STEER))
            elif have >= bounds.max:
                weight *= 0.5
        weights[prompt.name] = weight
    return weights


@dataclass(frozen=True)
class ClosedRound:
    """A round's outcome row and, unless the night stopped, the next round's plan (rows of `night_rounds`)."""

    outcome: dict
    next_round: dict | None

    @property
    def summary(self) -> str:
        row = self.outcome
        tail = row["stop_reason"] or f"round {self.next_round['round']} plans {self.next_round['planned_samples']}"
        return (
            f"round {row['round']}: {row['kept']} of {row['target_rows']} rows kept from {row['planned_samples']} "
            f"samples (yield {row['yield']:.2f}); {tail}"
        )


def close_round(
    target: Target,
    latest: Mapping,
    night: NightSoFar,
    kept: int,
    reached: Mapping[str, float],
    prompts: Sequence[SystemPrompt],
    shares: Mapping[str, ShareBounds],
) -> ClosedRound:
    """`latest`: the round just curated (a `night_rounds` row); `reached`: the category shares of its kept rows."""
    decision = decide(target, night)
    filled = {category: share * kept / target.curated_rows for category, share in reached.items()}
    outcome = {
        **latest,
        "target_rows": target.curated_rows,
        "curated": night.curated,
        "kept": kept,
        "yield": round(night.yield_, 4),
        "tokens": night.tokens,
        "cost_usd": night.cost_usd,
        "category_shares": json.dumps(dict(reached)),
        "stop_reason": decision.stop_reason,
    }
    if decision.stopped:
        return ClosedRound(outcome, None)
    steered = shares and any(prompt.category for prompt in prompts)
    next_round = {
        "model": latest["model"],
        "partition_date": latest["partition_date"],
        "round": latest["round"] + 1,
        "planned_samples": decision.next_samples,
        "prompt_weights": json.dumps(steered_weights(prompts, filled, shares)) if steered else None,
        "target_rows": target.curated_rows,
    }
    return ClosedRound(outcome, next_round)
