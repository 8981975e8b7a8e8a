"""Progress and throughput of a long generation, as plain numbers a log line or metadata can show."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class GenerationProgress:
    total: int
    done: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    drop_reasons: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def record(self, prompt_tokens: int, completion_tokens: int, drop_reason: str | None) -> None:
        self.done += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if drop_reason:
            self.drop_reasons[drop_reason] += 1

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def kept(self) -> int:
        return self.done - sum(self.drop_reasons.values())

    def rates(self) -> str:
        """What follows `done/total` in a log line: share, rows/s, tokens/s, ETA."""
        rate = self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        eta_s = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"done ({self.done / max(self.total, 1):.0%}), "
            f"{rate:.2f} rows/s, {self.tokens_per_s:.1f} tokens/s, ETA {eta_s:.0f} s"
        )
