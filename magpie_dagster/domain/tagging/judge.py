"""Judging a batch of instructions for one tag: ask, parse, retry what failed, account for every row.

A pure function of an engine, so the fuzz test can drive it with garbage and the tagging asset with a model.
Bad answers never raise: each row comes back parsed or failed with its raw answer and the reason. Engine
failures (a dead server) do raise, since retrying a whole partition's judgements against nothing helps nobody.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from magpie_dagster.domain.completion import ChatRequest, Completion, GenerationEngine, SamplingParams
from magpie_dagster.domain.seeds import derived_seed
from magpie_dagster.domain.tagging.parse import JudgeAnswerError
from magpie_dagster.domain.tagging.tags import TagSpec

RETRY_TEMPERATURE = 0.7
DEFAULT_JUDGE_SAMPLING = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=384)


@dataclass(frozen=True)
class JudgeItem:
    conversation_id: str
    instruction: str
    response: str = ""


@dataclass(frozen=True)
class TagResult:
    conversation_id: str
    tag: str
    columns: dict[str, Any] | None
    raw_answer: str
    error: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    judge_model: str
    prompt_version: str
    constrained: bool

    @property
    def ok(self) -> bool:
        return self.columns is not None


def judge_items(
    engine: GenerationEngine,
    items: Sequence[JudgeItem],
    spec: TagSpec,
    *,
    max_retries: int = 2,
    sampling: SamplingParams = DEFAULT_JUDGE_SAMPLING,
    constrained: bool = True,
) -> list[TagResult]:
    """One `TagResult` per item, in order. Retries use a warmer temperature and a new seed."""
    finished = judge_stream(
        engine, items, spec, chunk=max(len(items), 1), max_retries=max_retries, sampling=sampling,
        constrained=constrained,
    )  # fmt: skip
    return [result for _, result in sorted(finished, key=lambda pair: pair[0])]


def judge_stream(
    engine: GenerationEngine,
    items: Sequence[JudgeItem],
    spec: TagSpec,
    *,
    chunk: int,
    max_retries: int = 2,
    sampling: SamplingParams = DEFAULT_JUDGE_SAMPLING,
    constrained: bool = True,
) -> Iterator[tuple[int, TagResult]]:
    """(item position, result) as each item's judgement is final: all first attempts are one stream through the
    engine (`chunk` per call where it cannot stream); the answers that did not parse are retried in the next."""
    use_schema = constrained and engine.supports_json_schema
    state = [_Attempts() for _ in items]
    pending = list(range(len(items)))
    for attempt in range(max_retries + 1):
        if not pending:
            break
        attempt_sampling = sampling if attempt == 0 else _warmer(sampling)
        requests = [
            ChatRequest(
                messages=tuple(spec.prompt.messages(instruction=items[i].instruction, response=items[i].response)),
                sampling=attempt_sampling,
                seed=_seed(items[i].conversation_id, spec.name, attempt),
                json_schema=spec.json_schema if use_schema and spec.json_schema else None,
            )
            for i in pending
        ]
        still_failing = []
        for position, completion in engine.chat_stream(requests, chunk):
            index = pending[position]
            state[index].record(completion)
            try:
                state[index].columns = spec.parse(completion.text)
            except JudgeAnswerError as error:
                state[index].error = _reason(error, completion)
                if attempt < max_retries:
                    still_failing.append(index)
                    continue
            else:
                state[index].error = None
            yield index, _result(items[index], state[index], spec, engine.model_name, use_schema)
        pending = sorted(still_failing)


def _result(item: JudgeItem, attempts: _Attempts, spec: TagSpec, judge_model: str, constrained: bool) -> TagResult:
    return TagResult(
        conversation_id=item.conversation_id,
        tag=spec.name,
        columns=attempts.columns,
        raw_answer=attempts.raw_answer,
        error=attempts.error,
        attempts=attempts.count,
        prompt_tokens=attempts.prompt_tokens,
        completion_tokens=attempts.completion_tokens,
        judge_model=judge_model,
        prompt_version=spec.prompt.version,
        constrained=constrained,
    )


@dataclass
class _Attempts:
    columns: dict[str, Any] | None = None
    raw_answer: str = ""
    error: str | None = None
    count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def record(self, completion: Completion) -> None:
        self.count += 1
        self.raw_answer = completion.text
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


def _reason(error: JudgeAnswerError, completion: Completion) -> str:
    cut = " (the answer hit max_tokens)" if completion.finish_reason == "length" else ""
    return f"{error}{cut}"


def _warmer(sampling: SamplingParams) -> SamplingParams:
    return SamplingParams(
        temperature=max(sampling.temperature, RETRY_TEMPERATURE),
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        repetition_penalty=sampling.repetition_penalty,
        stop=sampling.stop,
    )


def _seed(conversation_id: str, tag: str, attempt: int) -> int:
    return derived_seed("judge", tag, conversation_id, attempt)
