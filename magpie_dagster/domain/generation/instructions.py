"""Stage 1 of Magpie: sample user instructions from the pre-query template alone.

A pure function of an engine and a plan, yielding finished batches so the caller can store each one in
a short transaction and report progress; nothing here knows about Dagster or DuckDB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from magpie_dagster.domain.chat_templates import ChatFormat
from magpie_dagster.domain.completion import CompletionRequest, GenerationEngine
from magpie_dagster.domain.engine_config import Sampling
from magpie_dagster.domain.fingerprint import fingerprint
from magpie_dagster.domain.generation.sampling_plan import PlannedSample
from magpie_dagster.domain.generation.sanitise import drop_reason, sanitise_instruction
from magpie_dagster.domain.streaming import in_batches

ASSISTANT_WORD_STOPS = ("assistant", "Assistant", "ASSISTANT")


@dataclass(frozen=True)
class InstructionRecord:
    conversation_id: str
    model: str
    partition_date: dt.date
    sample_index: int
    system_prompt_name: str | None
    raw_instruction: str
    instruction: str
    sanitiser_rules: tuple[str, ...]
    drop_reason: str | None
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    input_generator: str
    pre_query_template: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    fingerprint: str


@dataclass(frozen=True)
class InstructionSettings:
    """How one partition's instructions are sampled: everything besides the plan that decides their text."""

    sampling: Sampling
    template_variant: str = "official"
    stop_at_assistant_word: bool = False


def instruction_requests(
    chat_format: ChatFormat, plan: Sequence[PlannedSample], settings: InstructionSettings
) -> list[CompletionRequest]:
    """One request per planned sample: the pre-query template (with its steering system prompt) and its seed."""
    stops = chat_format.stop_strings + (ASSISTANT_WORD_STOPS if settings.stop_at_assistant_word else ())
    params = settings.sampling.to_params(stops)
    return [
        CompletionRequest(
            prompt=chat_format.instruction_prompt(
                system_prompt=sample.system_prompt.text if sample.system_prompt else None,
                variant=settings.template_variant,
            ),
            sampling=params,
            seed=sample.seed,
        )
        for sample in plan
    ]


def instruction_fingerprints(
    engine: GenerationEngine, chat_format: ChatFormat, plan: Sequence[PlannedSample], settings: InstructionSettings
) -> dict[str, str]:
    """conversation_id -> what its instruction would be generated from now (see `domain.fingerprint`)."""
    requests = instruction_requests(chat_format, plan, settings)
    return {
        sample.conversation_id: _fingerprint(engine, request) for sample, request in zip(plan, requests, strict=True)
    }


def _fingerprint(engine: GenerationEngine, request: CompletionRequest) -> str:
    return fingerprint(engine.engine_name, engine.model_name, request)


def generate_instructions(
    engine: GenerationEngine,
    chat_format: ChatFormat,
    plan: Sequence[PlannedSample],
    settings: InstructionSettings,
    *,
    model_key: str,
    partition_date: dt.date,
    batch_size: int = 16,
) -> Iterator[list[InstructionRecord]]:
    """Yields the records of `batch_size` finished samples at a time, in the order they finish: the whole plan is
    one stream through the engine, so its slots stay full across batches."""
    requests = instruction_requests(chat_format, plan, settings)
    finished = engine.complete_stream(requests, batch_size)
    for batch in in_batches(finished, batch_size):
        yield [
            _record(engine, chat_format, settings, plan[index], requests[index], completion, model_key, partition_date)
            for index, completion in batch
        ]


def _record(engine, chat_format, settings, sample, request, completion, model_key, partition_date):
    sanitised = sanitise_instruction(completion.text)
    return InstructionRecord(
        conversation_id=sample.conversation_id,
        model=model_key,
        partition_date=partition_date,
        sample_index=sample.index,
        system_prompt_name=sample.system_prompt.name if sample.system_prompt else None,
        raw_instruction=completion.text,
        instruction=sanitised.text,
        sanitiser_rules=sanitised.rules_fired,
        drop_reason=drop_reason(completion.text, sanitised, completion.finish_reason, chat_format.stop_strings),
        temperature=settings.sampling.temperature,
        top_p=settings.sampling.top_p,
        max_tokens=settings.sampling.max_tokens,
        seed=sample.seed,
        input_generator=engine.model_name,
        pre_query_template=request.prompt,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason,
        fingerprint=_fingerprint(engine, request),
    )
