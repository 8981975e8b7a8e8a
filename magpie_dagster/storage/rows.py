"""Domain records to table rows: the one place that knows both shapes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from magpie_dagster.domain.costs.metering import EngineCall
from magpie_dagster.domain.generation.instructions import InstructionRecord
from magpie_dagster.domain.generation.responses import ResponseRecord
from magpie_dagster.domain.preference.pairs import PreferencePair
from magpie_dagster.domain.tagging.evaluation import TagScore
from magpie_dagster.domain.tagging.judge import TagResult


def instruction_row(record: InstructionRecord) -> dict[str, Any]:
    return {
        "conversation_id": record.conversation_id,
        "model": record.model,
        "partition_date": record.partition_date,
        "sample_index": record.sample_index,
        "system_prompt_name": record.system_prompt_name,
        "instruction": record.instruction,
        "raw_instruction": record.raw_instruction,
        "sanitiser_rules": list(record.sanitiser_rules),
        "drop_reason": record.drop_reason,
        "gen_input_configs": {
            "temperature": record.temperature,
            "top_p": record.top_p,
            "max_tokens": record.max_tokens,
            "input_generator": record.input_generator,
            "seed": record.seed,
            "pre_query_template": record.pre_query_template,
        },
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "finish_reason": record.finish_reason,
        "fingerprint": record.fingerprint,
    }


def response_row(record: ResponseRecord) -> dict[str, Any]:
    return {
        "conversation_id": record.conversation_id,
        "instruction_id": record.instruction_id,
        "response_model": record.response_model,
        "model": record.model,
        "partition_date": record.partition_date,
        "instruction": record.instruction,
        "response": record.response,
        "reasoning": record.reasoning,
        "reasoning_closed": record.reasoning_closed,
        "conversations": [dict(turn) for turn in record.conversations],
        "turns": record.turns,
        "turn_stop_reason": record.turn_stop_reason,
        "drop_reason": record.drop_reason,
        "finish_reason": record.finish_reason,
        "gen_response_configs": {
            "prompt": record.prompt,
            "temperature": record.temperature,
            "top_p": record.top_p,
            "repetition_penalty": record.repetition_penalty,
            "max_tokens": record.max_tokens,
            "stop_tokens": list(record.stop_tokens),
            "output_generator": record.output_generator,
            "engine": record.engine,
        },
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "fingerprint": record.fingerprint,
    }


def judgement_row(
    result: TagResult, model: str, partition_date: dt.date, input_hash: str, judge_model: str
) -> dict[str, Any]:
    return {
        "conversation_id": result.conversation_id,
        "model": model,
        "partition_date": partition_date,
        "tag": result.tag,
        "input_hash": input_hash,
        "judge_model": judge_model,
        "prompt_version": result.prompt_version,
        "status": "ok" if result.ok else "failed",
        "fields": json.dumps(result.columns, ensure_ascii=False) if result.ok else None,
        "raw_answer": result.raw_answer,
        "error": result.error,
        "attempts": result.attempts,
        "constrained": result.constrained,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
    }


def tagger_score_row(score: TagScore, method: str) -> dict[str, Any]:
    return {
        "tag": score.tag,
        "judge_model": score.judge_model,
        "prompt_version": score.prompt_version,
        "field": score.field,
        "method": method,
        "labelled_rows": score.rows,
        "accuracy": round(score.accuracy, 4),
        "constant_label": score.baseline_label,
        "constant_accuracy": round(score.baseline_accuracy, 4),
        "within_one": score.within_one,
        "constant_within_one": score.baseline_within_one,
        "kappa": score.kappa,
    }


def preference_pair_row(pair: PreferencePair, row: Mapping[str, Any], reward_model: str) -> dict[str, Any]:
    """`row`: the curated row (or, across responders, the instruction's group) the pair was drawn for."""
    models = list(row.get("response_models") or [row["response_model"]] * len(pair.responses))
    return {
        "conversation_id": pair.conversation_id,
        "model": row["model"],
        "response_models": models,
        "chosen_model": models[pair.chosen_index],
        "rejected_model": models[pair.rejected_index],
        "instruction": pair.instruction,
        "responses": list(pair.responses),
        "rewards": list(pair.rewards),
        "chosen": list(pair.chosen),
        "rejected": list(pair.rejected),
        "chosen_reward": pair.chosen_reward,
        "rejected_reward": pair.rejected_reward,
        "reward_model": reward_model,
    }


def engine_call_row(
    call: EngineCall, *, run_id: str, attempt: int, stage: str, model: str, partition_date: dt.date
) -> dict[str, Any]:
    return {
        "call_id": str(uuid.uuid4()),
        "run_id": run_id,
        "attempt": attempt,
        "stage": stage,
        "model": model,
        "partition_date": partition_date,
        **dataclasses.asdict(call),
    }
