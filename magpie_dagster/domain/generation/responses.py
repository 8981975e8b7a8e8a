"""Stage 2 of Magpie: answer each kept instruction, and continue the conversation for multi-turn sets.

Turn k+1's instruction is sampled from the rendered conversation plus the next user header, with the same
steering system prompt as turn 1; responses are rendered with the template's own default system turn, so
steering shapes what users ask, not how the assistant is told to answer. Work is batched across
conversations, one turn at a time, so engines see full batches. A reasoning model's first-turn reasoning is
stored apart from its answer (`reasoning.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from magpie_dagster.domain.chat_templates import ChatFormat, Message
from magpie_dagster.domain.completion import Completion, CompletionRequest, GenerationEngine
from magpie_dagster.domain.engine_config import Sampling
from magpie_dagster.domain.fingerprint import fingerprint
from magpie_dagster.domain.generation.config import SystemPrompt
from magpie_dagster.domain.generation.reasoning import split_reasoning
from magpie_dagster.domain.generation.sampling_plan import answer_id, sample_seed
from magpie_dagster.domain.generation.sanitise import drop_reason as instruction_drop_reason
from magpie_dagster.domain.generation.sanitise import sanitise_instruction
from magpie_dagster.domain.repetition import loops
from magpie_dagster.domain.streaming import in_batches


@dataclass(frozen=True)
class KeptInstruction:
    conversation_id: str
    sample_index: int
    instruction: str
    system_prompt: str | None


@dataclass(frozen=True)
class ResponseRecord:
    conversation_id: str  # the answer's id (`sampling_plan.answer_id`)
    instruction_id: str
    response_model: str
    model: str
    partition_date: dt.date
    instruction: str
    response: str
    reasoning: str | None
    reasoning_closed: bool | None
    conversations: tuple[dict[str, str], ...]
    turns: int
    turn_stop_reason: str | None
    drop_reason: str | None
    finish_reason: str
    prompt: str
    temperature: float
    top_p: float
    repetition_penalty: float
    max_tokens: int
    stop_tokens: tuple[str, ...]
    output_generator: str
    engine: str
    prompt_tokens: int
    completion_tokens: int
    fingerprint: str


@dataclass
class _Conversation:
    kept: KeptInstruction
    messages: list[Message]
    first_prompt: str = ""
    first_finish_reason: str = "stop"
    reasoning: str | None = None
    reasoning_closed: bool | None = None
    drop_reason: str | None = None
    turn_stop_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    active: bool = True
    responses: list[str] = field(default_factory=list)

    def count(self, completion: Completion) -> None:
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


def response_drop_reason(completion: Completion, answer: str | None = None) -> str | None:
    """Why a response is not usable; a loop is named before the max_tokens it usually runs into. `answer`: the
    text after any reasoning (empty when the reasoning never ended)."""
    if loops(completion.text):
        return "looping"
    if completion.finish_reason == "length":
        return "truncated"
    if not (completion.text if answer is None else answer).strip():
        return "empty"
    return None


@dataclass(frozen=True)
class ResponseSettings:
    """How one partition's conversations are generated, besides the instructions themselves.

    `responder`: the catalogue key answering (the partition's own `model_key` when it answers itself); its sampling
    is given here, its chat format and engine to `generate_responses`."""

    model_key: str
    partition_date: dt.date
    responder: str
    response_sampling: Sampling
    instruction_sampling: Sampling
    turns: int = 1

    def answer_id(self, kept: KeptInstruction) -> str:
        return answer_id(kept.conversation_id, self.responder, self.model_key)

    def seed(self, kept: KeptInstruction, purpose: str) -> int:
        """Another responder's answers get their own seeds; the model's own keep the seeds they always had."""
        suffix = "" if self.responder == self.model_key else f"@{self.responder}"
        return sample_seed(self.model_key, self.partition_date, kept.sample_index, purpose + suffix)


def response_fingerprints(
    engine: GenerationEngine,
    chat_format: ChatFormat,
    instructions: Sequence[KeptInstruction],
    settings: ResponseSettings,
) -> dict[str, str]:
    """answer id -> what its conversation would be generated from now (see `domain.fingerprint`)."""
    return {settings.answer_id(kept): _fingerprint(engine, chat_format, kept, settings) for kept in instructions}


def _fingerprint(engine, chat_format, kept: KeptInstruction, settings: ResponseSettings) -> str:
    stops = chat_format.stop_strings
    follow_up = settings.instruction_sampling.to_params(stops) if settings.turns > 1 else None
    return fingerprint(
        engine.engine_name,
        engine.model_name,
        chat_format.response_prompt(instruction=kept.instruction),
        kept.system_prompt,
        (settings.response_sampling.to_params(chat_format.answer_stop_strings), follow_up),
        settings.turns,
        settings.seed(kept, "response_1"),
    )


def generate_responses(
    engine: GenerationEngine,
    chat_format: ChatFormat,
    instructions: Sequence[KeptInstruction],
    settings: ResponseSettings,
    batch_size: int = 16,
) -> Iterator[list[ResponseRecord]]:
    """Yields `batch_size` finished conversations at a time. Single-turn answers are one stream through the engine
    (in the order they finish, its slots full across batches); a multi-turn batch waits for each turn."""
    answer_params = settings.response_sampling.to_params(chat_format.answer_stop_strings)
    if settings.turns == 1:
        conversations = _conversations(instructions)
        prompts, requests = _answer_requests(chat_format, conversations, 1, answer_params, settings)
        for batch in in_batches(engine.complete_stream(requests, batch_size), batch_size):
            for index, completion in batch:
                _take_answer(conversations[index], prompts[index], completion, 1)
            yield [_to_record(conversations[index], settings, chat_format, engine) for index, _ in batch]
        return
    instruction_params = settings.instruction_sampling.to_params(chat_format.stop_strings)
    for start in range(0, len(instructions), batch_size):
        conversations = _conversations(instructions[start : start + batch_size])
        for turn in range(1, settings.turns + 1):
            active = [conversation for conversation in conversations if conversation.active]
            prompts, requests = _answer_requests(chat_format, active, turn, answer_params, settings)
            for conversation, prompt, completion in zip(active, prompts, engine.complete(requests), strict=True):
                _take_answer(conversation, prompt, completion, turn)
            if turn < settings.turns:
                _ask_next(engine, chat_format, conversations, turn + 1, instruction_params, settings)
        yield [_to_record(conversation, settings, chat_format, engine) for conversation in conversations]


def _conversations(instructions: Sequence[KeptInstruction]) -> list[_Conversation]:
    return [
        _Conversation(kept=kept, messages=[Message(role="user", content=kept.instruction)]) for kept in instructions
    ]


def _answer_requests(chat_format, conversations, turn, params, settings: ResponseSettings):
    prompts = [
        chat_format.response_prompt(instruction=conversation.messages[-1].content, history=conversation.messages[:-1])
        for conversation in conversations
    ]
    requests = [
        CompletionRequest(prompt=prompt, sampling=params, seed=settings.seed(conversation.kept, f"response_{turn}"))
        for prompt, conversation in zip(prompts, conversations, strict=True)
    ]
    return prompts, requests


def _take_answer(conversation: _Conversation, prompt: str, completion, turn: int) -> None:
    conversation.count(completion)
    answer = split_reasoning(completion.text, prompt, completion.reasoning)
    problem = response_drop_reason(completion, answer.response)
    if turn == 1:
        conversation.first_prompt = prompt
        conversation.first_finish_reason = completion.finish_reason
        conversation.drop_reason = problem
        conversation.reasoning, conversation.reasoning_closed = answer.reasoning, answer.reasoning_closed
    elif problem:
        conversation.messages.pop()
        conversation.turn_stop_reason = f"response_{turn}_{problem}"
        conversation.active = False
        return
    # Later turns see the answer only, as reasoning models' own chat templates drop past reasoning.
    conversation.messages.append(Message(role="assistant", content=answer.response))
    conversation.responses.append(answer.response)
    if problem:
        conversation.active = False


def _ask_next(engine, chat_format, conversations, turn, params, settings: ResponseSettings) -> None:
    active = [conversation for conversation in conversations if conversation.active]
    requests = [
        CompletionRequest(
            prompt=chat_format.instruction_prompt(
                system_prompt=conversation.kept.system_prompt, history=conversation.messages
            ),
            sampling=params,
            seed=settings.seed(conversation.kept, f"instruction_{turn}"),
        )
        for conversation in active
    ]
    for conversation, completion in zip(active, engine.complete(requests), strict=True):
        conversation.count(completion)
        sanitised = sanitise_instruction(completion.text)
        problem = instruction_drop_reason(
            completion.text, sanitised, completion.finish_reason, chat_format.stop_strings
        )
        if problem:
            conversation.turn_stop_reason = f"instruction_{turn}_{problem}"
            conversation.active = False
        else:
            conversation.messages.append(Message(role="user", content=sanitised.text))


def _to_record(conversation, settings: ResponseSettings, chat_format, engine) -> ResponseRecord:
    sampling = settings.response_sampling
    sharegpt = tuple(
        {"from": "human" if message.role == "user" else "gpt", "value": message.content}
        for message in conversation.messages
    )
    return ResponseRecord(
        conversation_id=settings.answer_id(conversation.kept),
        instruction_id=conversation.kept.conversation_id,
        response_model=settings.responder,
        model=settings.model_key,
        partition_date=settings.partition_date,
        instruction=conversation.kept.instruction,
        response=conversation.responses[0] if conversation.responses else "",
        reasoning=conversation.reasoning,
        reasoning_closed=conversation.reasoning_closed,
        conversations=sharegpt,
        turns=len(conversation.responses),
        turn_stop_reason=conversation.turn_stop_reason,
        drop_reason=conversation.drop_reason,
        finish_reason=conversation.first_finish_reason,
        prompt=conversation.first_prompt,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        repetition_penalty=sampling.repetition_penalty,
        max_tokens=sampling.max_tokens,
        stop_tokens=chat_format.answer_stop_strings,
        output_generator=engine.model_name,
        engine=engine.engine_name,
        prompt_tokens=conversation.prompt_tokens,
        completion_tokens=conversation.completion_tokens,
        fingerprint=_fingerprint(engine, chat_format, conversation.kept, settings),
    )


def kept_instructions(rows: Iterable[Mapping], system_prompts: Sequence[SystemPrompt]) -> list[KeptInstruction]:
    """The partition's usable instructions (stored rows) as responders answer them, each with its system turn."""
    texts = {prompt.name: prompt.text for prompt in system_prompts}
    return [
        KeptInstruction(
            conversation_id=row["conversation_id"],
            sample_index=row["sample_index"],
            instruction=row["instruction"],
            system_prompt=texts.get(row["system_prompt_name"]),
        )
        for row in rows
    ]
