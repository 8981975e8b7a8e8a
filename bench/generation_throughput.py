"""Throughput of the asset path against the raw engine, on the same prompts and seeds, in one run.

For each repeat (order alternated, medians reported):
  raw     llama-cpp-python's `Llama.create_completion` called directly on the instruction prompts the
          asset would build (same template, sampling, seeds), model load included;
  asset   `dagster.materialize` of `raw_instructions` for one partition into a fresh DuckDB file:
          engine load, sanitising, DuckDB writes, Dagster events and metadata included.
Then the same for responses: the raw engine answers the kept instructions with the prompts the
`responses` asset renders, against materialising `responses`.

    .venv/bin/python bench/generation_throughput.py --instructions 64 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.generator_setup import chat_format_for
from magpie_dagster.domain.sampling_plan import plan_samples, sample_seed
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.settings import DEFAULT_CATALOGUE
from magpie_dagster.storage.generation_store import usable_instructions
from magpie_dagster.storage.warehouse import Warehouse

NIGHT = dt.date(2026, 11, 20)
MODEL_KEY = "smollm2_135m"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--response-max-tokens", type=int, default=192)
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="magpie-bench-"))
    catalogue_path = _bench_catalogue(workdir, arguments.instructions, arguments.response_max_tokens)
    entry = load_catalogue(catalogue_path).entry(MODEL_KEY)

    results: dict[str, list[float]] = {
        key: [] for key in ("raw_instr", "asset_instr", "raw_resp", "asset_resp")
    }
    tokens: dict[str, int] = {}
    for repeat in range(arguments.repeats):
        warehouse_path = workdir / f"bench-{repeat}.duckdb"
        order = ("asset", "raw") if repeat % 2 else ("raw", "asset")
        for path in order:
            if path == "asset":
                for asset, key in (("raw_instructions", "asset_instr"), ("responses", "asset_resp")):
                    seconds = _materialise(catalogue_path, warehouse_path, asset)
                    tokens[key] = _tokens(
                        warehouse_path, "instructions" if asset == "raw_instructions" else "responses"
                    )
                    results[key].append(tokens[key] / seconds)
            else:
                rate, tokens["raw_instr"] = _raw_instructions(entry)
                results["raw_instr"].append(rate)
        rate, tokens["raw_resp"] = _raw_responses(entry, warehouse_path)
        results["raw_resp"].append(rate)

    medians = {key: statistics.median(values) for key, values in results.items()}
    report = {
        "workload": (
            f"{arguments.instructions} instructions + their responses (max {arguments.response_max_tokens} tokens), "
            "SmolLM2-135M-Instruct Q4_1, llama.cpp, 2 threads"
        ),
        "repeats": arguments.repeats,
        "completion_tokens": tokens,
        "tokens_per_s_median": {key: round(value, 1) for key, value in medians.items()},
        "tokens_per_s_all": {key: [round(v, 1) for v in values] for key, values in results.items()},
        "ratio_asset_to_raw": {
            "instructions": round(medians["asset_instr"] / medians["raw_instr"], 3),
            "responses": round(medians["asset_resp"] / medians["raw_resp"], 3),
        },
    }
    print(json.dumps(report, indent=2))


def _bench_catalogue(workdir: Path, instructions: int, response_max_tokens: int) -> Path:
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    raw["models"] = [entry for entry in raw["models"] if entry["key"] == MODEL_KEY]
    raw["models"][0]["instructions_per_batch"] = instructions
    raw["models"][0]["response_sampling"]["max_tokens"] = response_max_tokens
    path = workdir / "catalogue.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _materialise(catalogue_path: Path, warehouse_path: Path, asset: str) -> float:
    defs = build_definitions(catalogue_path, warehouse_path)
    job = defs.resolve_job_def("magpie_job")
    started = time.perf_counter()
    result = job.execute_in_process(
        partition_key=model_date_key(MODEL_KEY, NIGHT),
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(asset)],
    )
    seconds = time.perf_counter() - started
    assert result.success
    return seconds


def _tokens(warehouse_path: Path, table: str) -> int:
    with Warehouse(warehouse_path).connect(read_only=True) as connection:
        return connection.execute(f"SELECT sum(completion_tokens) FROM {table}").fetchone()[0]


def _raw_instructions(entry) -> tuple[float, int]:
    """The raw engine: llama-cpp-python's own call on the prompts and seeds the asset uses."""
    chat_format = _chat_format(entry)
    started = time.perf_counter()
    llama = _raw_llama(entry)
    sampling = entry.instruction_sampling
    total = 0
    for sample in plan_samples(MODEL_KEY, NIGHT, entry.instructions_per_batch, entry.system_prompts):
        prompt = chat_format.instruction_prompt(
            system_prompt=sample.system_prompt.text if sample.system_prompt else None
        )
        result = llama.create_completion(
            prompt=prompt,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            repeat_penalty=sampling.repetition_penalty,
            stop=list(chat_format.stop_strings),
            seed=sample.seed,
        )
        total += result["usage"]["completion_tokens"]
    seconds = time.perf_counter() - started
    llama.close()
    return total / seconds, total


def _raw_responses(entry, warehouse_path: Path) -> tuple[float, int]:
    kept = usable_instructions(Warehouse(warehouse_path), MODEL_KEY, NIGHT)
    chat_format = _chat_format(entry)
    started = time.perf_counter()
    llama = _raw_llama(entry)
    sampling = entry.response_sampling
    total = 0
    for row in kept:
        result = llama.create_completion(
            prompt=chat_format.response_prompt(instruction=row["instruction"]),
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            repeat_penalty=sampling.repetition_penalty,
            stop=list(chat_format.stop_strings),
            seed=sample_seed(MODEL_KEY, NIGHT, row["sample_index"], "response_1"),
        )
        total += result["usage"]["completion_tokens"]
    seconds = time.perf_counter() - started
    llama.close()
    return total / seconds, total


def _chat_format(entry):
    """Built before the clock starts: the asset path's template work is timed, the raw path has none."""
    engine = LlamaCppEngine(entry.model, n_ctx=entry.n_ctx, n_threads=entry.n_threads)
    try:
        return chat_format_for(entry, engine, NIGHT)
    finally:
        engine.close()


def _raw_llama(entry):
    """The raw engine, loaded with the same AMX-safe choice of CPU repacks as the engine (a crash otherwise)."""
    from magpie_dagster.engines.llama_cpp_cpu import load_llama

    return load_llama(
        str(_gguf(entry)), entry.cpu_extra_buffers, n_ctx=entry.n_ctx, n_threads=entry.n_threads, verbose=False
    )


def _gguf(entry) -> Path:
    from magpie_dagster.engines.packaged_model import resolve_model_path

    return Path(resolve_model_path(entry.model))


if __name__ == "__main__":
    main()
