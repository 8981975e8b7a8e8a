"""Throughput of the asset path against the raw engine, on the same prompts and seeds, in one run.

For each repeat (order rotated, medians reported):
  raw       llama-cpp-python's `Llama.create_completion` called directly on the instruction prompts the
            asset would build (same template, sampling, seeds), model load included; then on the responses'
            prompts for the kept instructions;
  asset/D   `raw_instructions` and `responses` of one partition materialised as the UI's Materialise does it
            (the code location's implicit asset job and its executor, one run) into a fresh DuckDB file, with
            the engine's `decoding` D (`sequential` is the raw engine's own path; `batched` the default):
            run start, engine load, sanitising, DuckDB writes, Dagster events and metadata included.
Tokens/s of the whole: completion tokens over the run's wall time (raw: the whole loop). Per stage: the stage's
completion tokens over its step's duration (the run's step stats; raw: each loop, the model load in the first).

Asset paths run once per `--batch-sizes` value (rows per engine call and per DuckDB commit), named `path@B`
when more than one is given, with the engine's `--parallel-sequences` slots:

    .venv/bin/python bench/generation_throughput.py --instructions 50 --repeats 3
    .venv/bin/python bench/generation_throughput.py --paths asset_graph/batched raw --batch-sizes 16 32 64
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableRepository

from magpie_dagster.defs.definitions_builder import build_definitions
from magpie_dagster.defs.partitions import model_date_key
from magpie_dagster.domain.catalogue import load_catalogue
from magpie_dagster.domain.generation.sampling_plan import plan_samples, sample_seed
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.settings import DEFAULT_CATALOGUE
from magpie_dagster.storage.generation_store import usable_instructions
from magpie_dagster.storage.warehouse import Warehouse

NIGHT = dt.date(2026, 11, 20)
MODEL_KEY = "smollm2_135m"
STAGES = {"raw_instructions": "instructions", "responses": "responses"}  # stage -> its table
# path -> (decoding, job): the asset graph's implicit job is what the UI's Materialise runs; `magpie_job` is the
# schedule's and the CLI's, one process per step.
ASSET_PATHS = {
    "asset_graph/sequential": ("sequential", IMPLICIT_ASSET_JOB_NAME),
    "asset_graph/batched": ("batched", IMPLICIT_ASSET_JOB_NAME),
    "magpie_job/sequential": ("sequential", "magpie_job"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--response-max-tokens", type=int, default=256)
    parser.add_argument("--paths", nargs="+", default=[*ASSET_PATHS, "raw"], choices=[*ASSET_PATHS, "raw"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16], help="the asset paths' batch_size")
    parser.add_argument("--parallel-sequences", type=int, default=16, help="the engine's decoding slots")
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="magpie-bench-"))
    variants = _variants(arguments.paths, arguments.batch_sizes)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    stage_rates: dict[str, dict[str, list[float]]] = {name: {stage: [] for stage in STAGES} for name in variants}
    tokens: dict[str, int] = {}
    names = list(variants)
    for repeat in range(arguments.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            path, batch_size = variants[name]
            if path == "raw":
                rate, tokens[name], stages = _raw(workdir, arguments)
            else:
                decoding, job = ASSET_PATHS[path]
                catalogue = _bench_catalogue(
                    workdir, arguments, decoding, batch_size, name.replace("/", "-").replace("@", "-")
                )
                # One warehouse file per path, emptied before each run: `magpie_job`'s step processes come from a
                # forkserver that keeps the environment (MAGPIE_WAREHOUSE) of the first run.
                warehouse = workdir / f"{name.replace('/', '-').replace('@', '-')}.duckdb"
                warehouse.unlink(missing_ok=True)
                rate, tokens[name], stages = _materialise(catalogue, warehouse, job)
            rates[name].append(rate)
            for stage, (stage_tokens, seconds) in stages.items():
                stage_rates[name][stage].append(stage_tokens / seconds)
    medians = {path: statistics.median(values) for path, values in rates.items()}
    stage_medians = {
        path: {stage: statistics.median(values) for stage, values in per_stage.items()}
        for path, per_stage in stage_rates.items()
    }
    report = {
        "workload": (
            f"{arguments.instructions} instructions + their responses (max {arguments.response_max_tokens} tokens), "
            f"SmolLM2-135M-Instruct Q4_1, llama.cpp, 2 threads, {arguments.parallel_sequences} parallel sequences"
        ),
        "repeats": arguments.repeats,
        "completion_tokens": tokens,
        "tokens_per_s_median": {path: round(value, 1) for path, value in medians.items()},
        "tokens_per_s_all": {path: [round(v, 1) for v in values] for path, values in rates.items()},
        "stage_tokens_per_s_median": {
            path: {stage: round(value, 1) for stage, value in per_stage.items()}
            for path, per_stage in stage_medians.items()
        },
    }
    if "raw" in medians:
        report["ratio_to_raw"] = {
            path: round(value / medians["raw"], 3) for path, value in medians.items() if path != "raw"
        }
        report["stage_ratio_to_raw"] = {
            path: {stage: round(value / stage_medians["raw"][stage], 3) for stage, value in per_stage.items()}
            for path, per_stage in stage_medians.items()
            if path != "raw"
        }
    print(json.dumps(report, indent=2))


def _variants(paths: list[str], batch_sizes: list[int]) -> dict[str, tuple[str, int]]:
    """Run name -> (path, batch_size): each asset path once per batch size, `raw` once."""
    variants = {}
    for path in paths:
        sizes = [batch_sizes[0]] if path == "raw" else batch_sizes
        for size in sizes:
            variants[path if len(sizes) == 1 else f"{path}@{size}"] = (path, size)
    return variants


def _bench_catalogue(workdir: Path, arguments, decoding: str, batch_size: int, name: str) -> Path:
    raw = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
    raw["models"] = [entry for entry in raw["models"] if entry["key"] == MODEL_KEY]
    raw["models"][0]["instructions_per_batch"] = arguments.instructions
    raw["models"][0]["response_sampling"]["max_tokens"] = arguments.response_max_tokens
    raw["models"][0]["decoding"] = decoding
    raw["models"][0]["batch_size"] = batch_size
    raw["models"][0]["parallel_sequences"] = arguments.parallel_sequences
    path = workdir / f"catalogue-{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _materialise(catalogue_path: Path, warehouse_path: Path, job_name: str) -> tuple[float, int, dict]:
    """One run of `raw_instructions` + `responses` through the shipped code location, as `dagster` loads it:
    tokens/s of the run, its completion tokens, and per stage (completion tokens, step seconds)."""
    os.environ.update(MAGPIE_CATALOGUE=str(catalogue_path), MAGPIE_WAREHOUSE=str(warehouse_path))
    job = ReconstructableRepository.for_module(
        "magpie_dagster.definitions", "defs", working_directory=str(Path.cwd())
    ).get_reconstructable_job(job_name)
    partitions = build_definitions(catalogue_path, warehouse_path).resolve_job_def("magpie_job").partitions_def
    tags = partitions.get_tags_for_partition_key(model_date_key(MODEL_KEY, NIGHT))
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        with dg.execute_job(
            job, instance=instance, tags=tags,
            asset_selection=[dg.AssetKey("raw_instructions"), dg.AssetKey("responses")],
        ) as result:  # fmt: skip
            seconds = time.perf_counter() - started
            assert result.success, f"the {job_name} run failed"
            stats = instance.get_run_step_stats(result.run_id)
            steps = {step.step_key: step.end_time - step.start_time for step in stats}
    stages = {stage: (_tokens(warehouse_path, table), steps[stage]) for stage, table in STAGES.items()}
    total = sum(stage_tokens for stage_tokens, _ in stages.values())
    return total / seconds, total, stages


def _tokens(warehouse_path: Path, table: str) -> int:
    with Warehouse(warehouse_path).connect(read_only=True) as connection:
        return connection.execute(f"SELECT sum(completion_tokens) FROM {table}").fetchone()[0]


def _raw(workdir: Path, arguments) -> tuple[float, int, dict]:
    """The raw engine: llama-cpp-python's own call on the prompts and seeds the assets use, model load included.
    The responses answer the instructions the asset path kept (read from a warehouse it wrote), so both paths
    answer the same requests."""
    catalogue = _bench_catalogue(workdir, arguments, "sequential", arguments.batch_sizes[0], "raw")
    entry = load_catalogue(catalogue).entry(MODEL_KEY)
    kept = _kept_instructions(workdir)
    chat_format = _chat_format(entry)
    started = time.perf_counter()
    llama = _raw_llama(entry)
    instruction_tokens = 0
    for sample in plan_samples(MODEL_KEY, NIGHT, entry.instructions_per_batch, entry.system_prompts):
        prompt = chat_format.instruction_prompt(
            system_prompt=sample.system_prompt.text if sample.system_prompt else None
        )
        instruction_tokens += _raw_completion(llama, prompt, entry.instruction_sampling, chat_format, sample.seed)
    answering = time.perf_counter()
    response_tokens = 0
    for row in kept:
        prompt = chat_format.response_prompt(instruction=row["instruction"])
        seed = sample_seed(MODEL_KEY, NIGHT, row["sample_index"], "response_1")
        response_tokens += _raw_completion(llama, prompt, entry.response_sampling, chat_format, seed)
    finished = time.perf_counter()
    llama.close()
    total = instruction_tokens + response_tokens
    stages = {
        "raw_instructions": (instruction_tokens, answering - started),
        "responses": (response_tokens, finished - answering),
    }
    return total / (finished - started), total, stages


def _kept_instructions(workdir: Path) -> list[dict]:
    written = sorted(workdir.glob("asset_graph-sequential.duckdb")) or sorted(workdir.glob("*.duckdb"))
    if not written:
        raise SystemExit("--paths raw needs an asset path before it in the same run (it answers their instructions)")
    return usable_instructions(Warehouse(written[0]), MODEL_KEY, NIGHT)


def _raw_completion(llama, prompt: str, sampling, chat_format, seed: int) -> int:
    result = llama.create_completion(
        prompt=prompt,
        max_tokens=sampling.max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        repeat_penalty=sampling.repetition_penalty,
        stop=list(chat_format.stop_strings),
        seed=seed,
    )
    return result["usage"]["completion_tokens"]


def _chat_format(entry):
    """Built before the clock starts: the asset path's template work is timed, the raw path has none."""
    engine = LlamaCppEngine(entry.model, n_ctx=entry.n_ctx, n_threads=entry.n_threads)
    try:
        return entry.chat_format(engine, NIGHT)
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
