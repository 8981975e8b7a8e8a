"""Judging throughput on the embedded model, against raw generation on the same engine, in one run.

For each repeat: judge N instructions for each tag with the packaged SmolLM2 (constrained by the tag's JSON
schema, retries on), then generate raw completions with the same engine until the same number of completion
tokens is produced. Prints judged instructions per minute per tag, judge tokens/s, raw tokens/s and their ratio
(the cost of chat templating, grammar-constrained decoding and parsing), plus the parse outcome shares.

    .venv/bin/python bench/judge_throughput.py --instructions 24 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from magpie_dagster.domain.completion import CompletionRequest, SamplingParams
from magpie_dagster.domain.tagging.judge import JudgeItem, judge_items
from magpie_dagster.domain.tagging.tags import JUDGED_TAGS, TAGS
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2

INSTRUCTIONS = [
    "How do I reverse a list in Python?", "Write a haiku about autumn leaves.", "What is 17 times 23?",
    "Plan a three-day trip to Rome on a budget.", "Explain how vaccines train the immune system.",
    "Fix this SQL: SELEC name FROM users", "Give me five names for a bakery.", "Summarise the causes of WW1.",
]
PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    items = [JudgeItem(str(i), INSTRUCTIONS[i % len(INSTRUCTIONS)] + f" ({i})") for i in range(arguments.instructions)]
    per_minute: dict[str, list[float]] = {tag: [] for tag in JUDGED_TAGS}
    judge_rates, raw_rates = [], []
    outcomes = {"first_try": 0, "after_retry": 0, "failed": 0}
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=2048, n_threads=2) as engine:
        for repeat in range(arguments.repeats):
            tokens, seconds = 0, 0.0
            for tag in JUDGED_TAGS:
                started = time.perf_counter()
                results = judge_items(engine, items, TAGS[tag], max_retries=2)
                elapsed = time.perf_counter() - started
                per_minute[tag].append(len(items) / elapsed * 60)
                tokens += sum(result.completion_tokens for result in results)
                seconds += elapsed
                for result in results:
                    key = "failed" if not result.ok else "first_try" if result.attempts == 1 else "after_retry"
                    outcomes[key] += 1
            judge_rates.append(tokens / seconds)
            raw_rates.append(_raw_rate(engine, tokens, repeat))
    total = sum(outcomes.values())
    print(json.dumps({
        "workload": f"{arguments.instructions} instructions x {len(JUDGED_TAGS)} tags, SmolLM2-135M Q4_1, 2 threads",
        "judged_per_minute_median": {tag: round(statistics.median(v), 1) for tag, v in per_minute.items()},
        "judge_tokens_per_s_median": round(statistics.median(judge_rates), 1),
        "raw_tokens_per_s_median": round(statistics.median(raw_rates), 1),
        "ratio_judge_to_raw": round(statistics.median(judge_rates) / statistics.median(raw_rates), 3),
        "parse_shares": {key: round(count / total, 3) for key, count in outcomes.items()},
    }, indent=2))


def _raw_rate(engine: LlamaCppEngine, tokens_wanted: int, repeat: int) -> float:
    """Raw completions on the same engine until as many completion tokens as the judges produced."""
    sampling = SamplingParams(temperature=1.0, max_tokens=128, stop=("<|im_end|>",))
    produced, seed = 0, 1000 * repeat
    started = time.perf_counter()
    while produced < tokens_wanted:
        [completion] = engine.complete([CompletionRequest(PRE_QUERY, sampling, seed)])
        produced += completion.completion_tokens
        seed += 1
    return produced / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
