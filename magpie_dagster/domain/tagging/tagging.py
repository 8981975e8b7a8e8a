"""What the tagging stage must (re)judge, and how it went: pure bookkeeping around `judge_items`.

A judgement is reused when its input (instruction, plus the response for response-level tags), judge model and
prompt version are unchanged and it succeeded; failed judgements are retried on the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from magpie_dagster.domain.tagging.judge import JudgeItem, TagResult

RESPONSE_LEVEL_TAGS = frozenset({"safety", "reward"})


@dataclass(frozen=True)
class TagVersion:
    """A tag and exactly what produces it (judge model, prompt version): the key a stored judgement is reused by."""

    tag: str
    judge_model: str
    prompt_version: str

    @property
    def uses_response(self) -> bool:
        return self.tag in RESPONSE_LEVEL_TAGS

    def input_hash(self, item: JudgeItem) -> str:
        text = f"{item.instruction}\x00{item.response}" if self.uses_response else item.instruction
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def cache_key(self, item: JudgeItem) -> tuple[str, str, str, str]:
        return (self.input_hash(item), self.judge_model, self.prompt_version, "ok")

    def to_judge(self, items: Sequence[JudgeItem], cached: Mapping[str, tuple[str, str, str, str]]) -> list[JudgeItem]:
        """Items without a reusable judgement; response-level tags skip unanswered instructions."""
        return [item for item in self.eligible(items) if cached.get(item.conversation_id) != self.cache_key(item)]

    def untokened_result(
        self, conversation_id: str, columns: dict | None, raw_answer: str, error: str | None = None
    ) -> TagResult:
        """A result from a tagger that is not a chat model (the classifier, the detector, a reward model): one
        attempt, no tokens, never constrained."""
        return TagResult(
            conversation_id=conversation_id,
            tag=self.tag,
            columns=columns,
            raw_answer=raw_answer,
            error=error,
            attempts=1,
            prompt_tokens=0,
            completion_tokens=0,
            judge_model=self.judge_model,
            prompt_version=self.prompt_version,
            constrained=False,
        )

    def eligible(self, items: Sequence[JudgeItem]) -> list[JudgeItem]:
        """Response-level tags (safety, reward) judge only answered instructions."""
        return [item for item in items if item.response or not self.uses_response]


@dataclass
class TagStats:
    tag: str
    judge_model: str
    prompt_version: str
    reused: int = 0
    parsed_first_try: int = 0
    parsed_after_retry: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, results: Iterable[TagResult]) -> None:
        for result in results:
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens
            if not result.ok:
                self.failed += 1
                reason = (result.error or "unknown").split(":")[0][:60]
                self.errors[reason] = self.errors.get(reason, 0) + 1
            elif result.attempts == 1:
                self.parsed_first_try += 1
            else:
                self.parsed_after_retry += 1

    def summary(self) -> dict[str, str | int | float]:
        """The tag's line in the stage's judging table."""
        return {
            "tag": self.tag,
            "judge": self.judge_model,
            "prompt_version": self.prompt_version,
            "reused": self.reused,
            "first_try": self.parsed_first_try,
            "after_retry": self.parsed_after_retry,
            "failed": self.failed,
            "completion_tokens": self.completion_tokens,
            "tokens_per_s": round(self.tokens_per_s, 1),
        }

    @property
    def judged(self) -> int:
        return self.parsed_first_try + self.parsed_after_retry + self.failed

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0
