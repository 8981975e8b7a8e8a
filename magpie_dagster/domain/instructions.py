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
from magpie_dagster.domain.sampling_plan import PlannedSample
from magpie_dagster.domain.sanitise import drop_reason, sanitise_instruction

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


def generate_instructions(
    engine: GenerationEngine,
    chat_format: ChatFormat,
    plan: Sequence[PlannedSample],
    *,
    model_key: str,
    partition_date: dt.date,
    sampling: Sampling,
    template_variant: str = "official",
    stop_at_assistant_word: bool = False,
    batch_size: int = 16,
) -> Iterator[list[InstructionRecord]]:
    """Yields one list of records per finished batch of `batch_size` samples, in plan order."""
    stops = chat_format.stop_strings + (ASSISTANT_WORD_STOPS if stop_at_assistant_word else ())
    params = sampling.to_params(stops)
    for start in range(0, len(plan), batch_size):
        batch = plan[start : start + batch_size]
        prompts = [
            chat_format.instruction_prompt(
                system_prompt=sample.system_prompt.text if sample.system_prompt else None,
                variant=template_variant,
            )
            for sample in batch
        ]
        requests = [
            CompletionRequest(prompt=prompt, sampling=params, seed=sample.seed)
            for prompt, sample in zip(prompts, batch, strict=True)
        ]
        completions = engine.complete(requests)
        records = []
        for sample, prompt, completion in zip(batch, prompts, completions, strict=True):
            sanitised = sanitise_instruction(completion.text)
            records.append(
                InstructionRecord(
                    conversation_id=sample.conversation_id,
                    model=model_key,
                    partition_date=partition_date,
                    sample_index=sample.index,
                    system_prompt_name=sample.system_prompt.name if sample.system_prompt else None,
                    raw_instruction=completion.text,
                    instruction=sanitised.text,
                    sanitiser_rules=sanitised.rules_fired,
                    drop_reason=drop_reason(
                        completion.text, sanitised, completion.finish_reason, chat_format.stop_strings
                    ),
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=sampling.max_tokens,
                    seed=sample.seed,
                    input_generator=engine.model_name,
                    pre_query_template=prompt,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    finish_reason=completion.finish_reason,
                )
            )
        yield records
