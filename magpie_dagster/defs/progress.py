"""The one shape of a stage's progress line in the event log, so `magpie-dagster run` can draw it as a bar.

Steps run in their own processes; what they report reaches the CLI only through Dagster's event log, as text.
Writing and reading that text in one module keeps the two from drifting apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^\[(?P<label>[^\]]+)\] (?P<what>[\w ]+): (?P<done>\d+)/(?P<total>\d+)\b(?P<rest>.*)$")
_TOKENS_PER_S = re.compile(r"(\d+(?:\.\d+)?) tokens/s")


@dataclass(frozen=True)
class Progress:
    what: str  # the table or tag being worked on: "instructions", "difficulty", "preference pairs"
    done: int
    total: int
    tokens_per_s: float | None  # None for stages that decode nothing (language detection, a reward server)


def progress_message(label: str, what: str, done: int, total: int, detail: str) -> str:
    """`[smollm2|2026-12-03] responses: 16/50 done, ...`: `detail` says the rest (rates, ETA, failures)."""
    return f"[{label}] {what}: {done}/{total} {detail}"


def parse_progress(message: str) -> Progress | None:
    """The progress a log line reports, or None for any other line."""
    matched = _LINE.match(message)
    if matched is None:
        return None
    rate = _TOKENS_PER_S.search(matched["rest"])
    return Progress(
        what=matched["what"],
        done=int(matched["done"]),
        total=int(matched["total"]),
        tokens_per_s=float(rate[1]) if rate and float(rate[1]) > 0 else None,
    )
