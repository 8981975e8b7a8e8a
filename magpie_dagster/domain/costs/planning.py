"""What a backfill will cost, projected from what the ledger measured: per planned sample, times the samples to come.

A model's rate is everything its measured partitions spent (generation, judging, failed and resumed attempts
too) divided by the samples they planned, so a projection carries the same mix of stages and retries the
model has shown. Nights already generated are not charged again (a re-run resumes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredRate:
    partitions: int
    samples: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cost_usd: float


@dataclass(frozen=True)
class Projection:
    model: str
    nights_to_run: int
    nights_done: int
    samples: int
    rate: MeasuredRate | None

    def _per_sample(self, total: float) -> float:
        return total / self.rate.samples * self.samples if self.rate and self.rate.samples else 0.0

    @property
    def prompt_tokens(self) -> int:
        return round(self._per_sample(self.rate.prompt_tokens)) if self.rate else 0

    @property
    def completion_tokens(self) -> int:
        return round(self._per_sample(self.rate.completion_tokens)) if self.rate else 0

    @property
    def engine_hours(self) -> float:
        return self._per_sample(self.rate.seconds) / 3600 if self.rate else 0.0

    @property
    def cost_usd(self) -> float:
        return self._per_sample(self.rate.cost_usd) if self.rate else 0.0


def project(model: str, rate: MeasuredRate | None, samples_per_night: int, nights: int, nights_done: int) -> Projection:
    to_run = nights - nights_done
    return Projection(model, to_run, nights_done, to_run * samples_per_night, rate)


def render_plan(projections: Sequence[Projection]) -> str:
    columns = (
        "model", "nights to run", "already run", "samples", "prompt tokens", "completion tokens", "engine hours",
        "cost (USD)", "measured from",
    )  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for p in projections:
        if p.rate is None:
            lines.append(
                f"| {p.model} | {p.nights_to_run} | {p.nights_done} | {p.samples} | ? | ? | ? | ? | "
                f"no measured partition: run one night first (`magpie-dagster run --models {p.model}`) |"
            )
            continue
        lines.append(
            f"| {p.model} | {p.nights_to_run} | {p.nights_done} | {p.samples} | {p.prompt_tokens:,} | "
            f"{p.completion_tokens:,} | {p.engine_hours:.2f} | {p.cost_usd:.2f} | {p.rate.partitions} partitions, "
            f"{p.rate.samples} samples |"
        )
    known = [p for p in projections if p.rate is not None]
    lines.append(
        f"| total | {sum(p.nights_to_run for p in projections)} | {sum(p.nights_done for p in projections)} | "
        f"{sum(p.samples for p in projections)} | {sum(p.prompt_tokens for p in known):,} | "
        f"{sum(p.completion_tokens for p in known):,} | {sum(p.engine_hours for p in known):.2f} | "
        f"{sum(p.cost_usd for p in known):.2f} | |"
    )
    return "\n".join(lines)
