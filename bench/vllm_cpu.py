"""vLLM in-process (its CPU build) against the embedded llama.cpp engine, on the same prompts and seeds.

Each repeat starts a fresh process per engine, alternating (llama.cpp's threads busy-wait and vLLM's engine
core polls: nothing may run beside either), and measures in it:
  start-up       the engine object built (vLLM: its engine core and worker processes, the model, eager mode;
                 llama.cpp: the GGUF), from process start, imports included
  instructions   `--samples` Magpie instructions from the pre-query template at temperature 1.0, `--max-tokens`,
                 the template's stop strings, in calls of `--batch-size` (as the raw_instructions asset calls)
  responses      greedy answers to the same `--samples` fixed instructions (the judge's evaluation set)
Tokens/s are completion tokens over the phase's wall time; medians over repeats, ratios vLLM / llama.cpp per
repeat. vLLM's CPU build keeps one core for its engine core's busy loop: on 2 cores its model runs on one.

    .venv/bin/python bench/vllm_cpu.py --samples 32 --repeats 3 --json vllm-bench.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("llama_cpp", "vllm")
PINNED = dt.date(2026, 11, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models-dir", type=Path, default=Path("data") / "models")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child, arguments, started=float(os.environ["BENCH_STARTED"]))))
        return
    runs = {engine: [] for engine in ENGINES}
    for repeat in range(arguments.repeats):
        for engine in ENGINES if repeat % 2 == 0 else reversed(ENGINES):
            runs[engine].append(_child(engine, arguments))
    report = summarise(runs, arguments)
    print(json.dumps(report, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2))


def _child(engine: str, arguments: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", engine, *_forwarded(arguments)]
    environment = {**os.environ, "BENCH_STARTED": repr(time.time()), "VLLM_CPU_KVCACHE_SPACE": "2"}
    with tempfile.TemporaryFile(mode="w+") as log:
        done = subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=log, text=True)
        if done.returncode != 0:
            log.seek(0)
            raise SystemExit(f"{engine} failed:\n{log.read()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _forwarded(arguments: argparse.Namespace) -> list[str]:
    return [
        "--samples", str(arguments.samples), "--max-tokens", str(arguments.max_tokens),
        "--batch-size", str(arguments.batch_size), "--models-dir", str(arguments.models_dir),
    ]  # fmt: skip


def measure(engine_name: str, arguments: argparse.Namespace, started: float) -> dict:
    from magpie_dagster.domain.chat_templates.derive import pre_query_prefix
    from magpie_dagster.domain.chat_templates.families import get_family
    from magpie_dagster.domain.completion import CompletionRequest, SamplingParams
    from magpie_dagster.domain.tagging.evaluation import load_eval_set
    from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2

    family = get_family("smollm2")
    template = family.model_template()
    pre_query = pre_query_prefix(template, [], PINNED)
    engine = _open(engine_name, PACKAGED_SMOLLM2, arguments.models_dir)
    startup_s = time.time() - started
    stops = family.stop_strings
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=arguments.max_tokens, stop=stops)
    instructions = [CompletionRequest(pre_query, sampling, seed) for seed in range(arguments.samples)]
    questions = [item.instruction for item in load_eval_set()][: arguments.samples]
    greedy = SamplingParams(temperature=0.0, max_tokens=arguments.max_tokens * 2, stop=stops)
    answers = [
        CompletionRequest(f"{pre_query}{question}<|im_end|>\n<|im_start|>assistant\n", greedy, index)
        for index, question in enumerate(questions)
    ]
    report = {"engine": engine_name, "startup_s": startup_s}
    for phase, requests in (("instructions", instructions), ("responses", answers)):
        began, tokens = time.perf_counter(), 0
        for start in range(0, len(requests), arguments.batch_size):
            batch = requests[start : start + arguments.batch_size]
            tokens += sum(done.completion_tokens for done in engine.complete(batch))
        seconds = time.perf_counter() - began
        report[phase] = {"requests": len(requests), "tokens": tokens, "seconds": seconds}
        report[phase]["tokens_per_s"] = tokens / seconds
    engine.close()
    return report


def _open(engine_name: str, model: str, models_dir: Path):
    if engine_name == "vllm":
        from magpie_dagster.engines.vllm_engine import VllmEngine

        return VllmEngine(model, models_dir=models_dir, max_model_len=2048)
    from magpie_dagster.engines.llama_cpp import LlamaCppEngine

    return LlamaCppEngine(model, n_ctx=4096, n_threads=2)


def summarise(runs: dict[str, list[dict]], arguments: argparse.Namespace) -> dict:
    def median(engine: str, *path: str) -> float:
        values = []
        for run in runs[engine]:
            value = run
            for key in path:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    ratios = {
        phase: statistics.median(
            vllm[phase]["tokens_per_s"] / llama[phase]["tokens_per_s"]
            for vllm, llama in zip(runs["vllm"], runs["llama_cpp"], strict=True)
        )
        for phase in ("instructions", "responses")
    }
    return {
        "workload": {
            "samples": arguments.samples, "max_tokens": arguments.max_tokens,
            "batch_size": arguments.batch_size, "repeats": arguments.repeats,
        },  # fmt: skip
        "median": {
            engine: {
                "startup_s": median(engine, "startup_s"),
                "instructions_tokens_per_s": median(engine, "instructions", "tokens_per_s"),
                "responses_tokens_per_s": median(engine, "responses", "tokens_per_s"),
            }
            for engine in ENGINES
        },
        "vllm_over_llama_cpp": ratios,
        "runs": runs,
    }


if __name__ == "__main__":
    main()
