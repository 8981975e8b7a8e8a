"""Batched against single-stream llama.cpp decoding, on the same prompts, seeds and engine calls, in one run.

For each repeat (order alternated, medians reported), both `decoding` settings of the embedded engine:
  generation  N Magpie instruction prompts of the packaged SmolLM2 entry (its template, sampling and seeds),
              sent in engine calls of `--batch-size` requests, as the assets send them; completion tokens/s;
  judging     the hand-labelled instructions judged for each tag with the current prompts (constrained JSON,
              retries on), in calls of the judge's batch size; judged instructions per minute.
The single-stream path is llama-cpp-python's `create_completion` / `create_chat_completion`, i.e. the raw engine.

    .venv/bin/python bench/batched_decoding.py --samples 64 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.generation.instructions import InstructionSettings, instruction_requests
from magpie_dagster.domain.generation.sampling_plan import plan_samples
from magpie_dagster.domain.tagging.evaluation import load_eval_set
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.tags import JUDGED_TAGS, TAGS
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.settings import DEFAULT_CATALOGUE

NIGHT = dt.date(2026, 11, 20)
MODEL_KEY = "smollm2_135m"
DECODINGS = ("sequential", "batched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="requests per engine call")
    parser.add_argument("--parallel-sequences", type=int, default=16)
    parser.add_argument("--judge-items", type=int, default=36, help="labelled instructions judged per tag")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    entry = load_catalogue(DEFAULT_CATALOGUE).entry(MODEL_KEY)
    rates: dict[str, list[float]] = {}
    for repeat in range(arguments.repeats):
        for decoding in DECODINGS if repeat % 2 == 0 else reversed(DECODINGS):
            with LlamaCppEngine(
                entry.model,
                n_ctx=entry.n_ctx,
                n_threads=entry.n_threads,
                decoding=decoding,
                parallel_sequences=arguments.parallel_sequences,
            ) as engine:
                rate = _generation_rate(engine, entry, arguments.samples, arguments.batch_size)
                rates.setdefault(f"generation_tokens_per_s/{decoding}", []).append(rate)
                for tag, per_minute in _judge_rates(engine, arguments.judge_items, arguments.batch_size).items():
                    rates.setdefault(f"judged_per_minute/{tag}/{decoding}", []).append(per_minute)
    medians = {key: statistics.median(values) for key, values in rates.items()}
    ratios = {
        key.removesuffix("/batched"): round(value / medians[key.replace("/batched", "/sequential")], 2)
        for key, value in medians.items()
        if key.endswith("/batched")
    }
    print(
        json.dumps(
            {
                "workload": (
                    f"{arguments.samples} instruction samples (max {entry.instruction_sampling.max_tokens} tokens) "
                    f"and {arguments.judge_items} labelled instructions x {len(JUDGED_TAGS)} tags; calls of "
                    f"{arguments.batch_size} requests; parallel_sequences {arguments.parallel_sequences}; "
                    f"SmolLM2-135M Q4_1, llama.cpp, {entry.n_threads} threads"
                ),
                "repeats": arguments.repeats,
                "median": {key: round(value, 1) for key, value in medians.items()},
                "all": {key: [round(value, 1) for value in values] for key, values in rates.items()},
                "ratio_batched_to_sequential": ratios,
            },
            indent=2,
        )
    )


def _generation_rate(engine: LlamaCppEngine, entry, samples: int, batch_size: int) -> float:
    chat_format = entry.chat_format(engine, NIGHT)
    plan = plan_samples(MODEL_KEY, NIGHT, samples, entry.system_prompts)
    requests = instruction_requests(chat_format, plan, InstructionSettings(sampling=entry.instruction_sampling))
    tokens, started = 0, time.perf_counter()
    for start in range(0, len(requests), batch_size):
        tokens += sum(c.completion_tokens for c in engine.complete(requests[start : start + batch_size]))
    return tokens / (time.perf_counter() - started)


def _judge_rates(engine: LlamaCppEngine, count: int, batch_size: int) -> dict[str, float]:
    items = [JudgeItem(item.id, item.instruction) for item in load_eval_set()[:count]]
    rates = {}
    for tag in JUDGED_TAGS:
        started = time.perf_counter()
        for start in range(0, len(items), batch_size):
            judge_items(engine, items[start : start + batch_size], TAGS[tag], max_retries=2)
        rates[tag] = len(items) / (time.perf_counter() - started) * 60
    return rates


if __name__ == "__main__":
    main()
