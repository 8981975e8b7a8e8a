"""Decontamination on a large corpus: a synthetic warehouse of N usable instructions (20 nights of one model, with
their stored 384-d embeddings as dedup leaves them) and a benchmark file of P prompts; then what the
`benchmark_contamination` asset does without Dagster: read the file, embed its prompts once with the packaged
MiniLM, check the whole corpus against it (a new benchmark), then one new night against it (the nightly case).
1 % of the instructions quote a prompt (n-gram), 0.5 % repeat one (exact), 0.5 % sit near one's vector (embedding).
Medians of repeats, each in a fresh process on a fresh copy of the warehouse, and that process's peak memory.

    .venv/bin/python bench/decontamination_cost.py --rows 100000 --prompts 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "llama3_8b"
NIGHTS = 20
FIRST = dt.date(2026, 11, 1)
EMBEDDER = "packaged:all-minilm-l6-v2"


def _text(rng: np.random.Generator, vocabulary: list[str], low: int, high: int) -> str:
    return " ".join(vocabulary[i] for i in rng.integers(0, len(vocabulary), rng.integers(low, high)))


def build(folder: Path, rows: int, prompts: int) -> tuple[Path, Path]:
    """The warehouse with the corpus (the last night left unchecked for the nightly case) and the benchmark file."""
    import pyarrow as pa

    from magpie_dagster.domain.dedup.normalise import text_hash
    from magpie_dagster.storage.warehouse import Warehouse

    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(20_000)]
    questions = [_text(rng, vocabulary, 12, 60) for _ in range(prompts)]
    benchmark = folder / "benchmark.jsonl"
    benchmark.write_text("".join(json.dumps({"prompt": q}) + "\n" for q in questions))
    texts, vectors = [], rng.normal(size=(rows, 384)).astype(np.float32)
    prompt_vectors = rng.normal(size=(prompts, 384)).astype(np.float32)  # stand-ins for where the check plants
    for i in range(rows):
        kind = i % 200
        if kind < 2:  # 1 %: a 15-word window of a prompt inside a longer request
            words = questions[i % prompts].split()
            start = int(rng.integers(0, max(1, len(words) - 15)))
            texts.append("Please help: " + " ".join(words[start : start + 15]) + " " + _text(rng, vocabulary, 5, 20))
        elif kind == 2:  # 0.5 %: a prompt retyped
            texts.append(questions[i % prompts].upper())
        else:
            texts.append(_text(rng, vocabulary, 8, 50))
            if kind == 3:  # 0.5 %: a vector next to a prompt's
                vectors[i] = prompt_vectors[i % prompts] + 0.1 * rng.normal(size=384)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(folder / "prompt_vectors.npy", prompt_vectors / np.linalg.norm(prompt_vectors, axis=1, keepdims=True))
    warehouse = Warehouse(folder / "magpie.duckdb")
    warehouse.ensure_schema()
    corpus = pa.table({  # noqa: F841 (read by SQL)
        "i": np.arange(rows), "instruction": texts, "text_hash": [text_hash(text) for text in texts],
        "embedding": pa.array(list(vectors), type=pa.list_(pa.float32())),
    })  # fmt: skip
    with warehouse.transaction() as c:
        c.execute(f"""
            CREATE TEMP TABLE ids AS SELECT i, 'c' || lpad(i::VARCHAR, 8, '0') AS id, instruction, text_hash, embedding,
                DATE '{FIRST}' + (i * {NIGHTS} // {rows})::INTEGER AS night FROM corpus""")  # fmt: skip
        c.execute(f"""
            INSERT INTO instructions BY NAME SELECT id AS conversation_id, '{MODEL}' AS model, night AS partition_date,
                i::INTEGER AS sample_index, instruction, instruction AS raw_instruction,
                []::VARCHAR[] AS sanitiser_rules, NULL AS drop_reason,
                {{'temperature': 1.0, 'top_p': 1.0, 'max_tokens': 512, 'input_generator': '{MODEL}', 'seed': i,
                  'pre_query_template': ''}} AS gen_input_configs,
                10 AS prompt_tokens, 20 AS completion_tokens, 'stop' AS finish_reason, md5(id) AS fingerprint
            FROM ids""")  # fmt: skip
        c.execute(f"""
            INSERT INTO instruction_embeddings BY NAME SELECT id AS conversation_id, '{MODEL}' AS model,
                night AS partition_date, text_hash, '{EMBEDDER}' AS embedder, embedding FROM ids""")  # fmt: skip
    return folder / "magpie.duckdb", benchmark


def check(path: str, benchmark_path: str, vectors_path: str, out: multiprocessing.Queue) -> None:
    """The asset's steps; the prompts' stored vectors are then swapped for the planted stand-ins (MiniLM's own
    vectors of random words would not sit near the planted instruction vectors)."""
    from magpie_dagster.defs.assets.decontamination import check_partition, vectors_of
    from magpie_dagster.domain.decontamination.benchmarks import load_benchmark
    from magpie_dagster.domain.decontamination.check import BenchmarkMatcher, partitions_to_check
    from magpie_dagster.domain.decontamination.config import BenchmarkFile, DecontaminationSettings
    from magpie_dagster.engines.embeddings import SentenceEmbedder
    from magpie_dagster.storage import decontamination_store, leases
    from magpie_dagster.storage.warehouse import Warehouse

    warehouse = Warehouse(Path(path))
    settings = DecontaminationSettings(benchmarks=(BenchmarkFile(name="bench", path=benchmark_path),))
    lease = leases.acquire(warehouse, "decontamination_corpus", "benchmarks", f"bench-{time.time()}")
    started = time.perf_counter()
    benchmark = load_benchmark(settings.benchmarks[0], Path(benchmark_path).parent)
    loaded = time.perf_counter()
    embedder = SentenceEmbedder(EMBEDDER)
    prompt_vectors = embedder.embed(list(benchmark.prompts))
    embedded = time.perf_counter()
    decontamination_store.replace_prompts(warehouse, lease, benchmark, EMBEDDER, prompt_vectors)
    matcher = BenchmarkMatcher(benchmark, settings, np.load(vectors_path))
    key = {"bench": settings.check_key(benchmark.fingerprint, EMBEDDER)}
    partitions = decontamination_store.partitions(warehouse)
    last = partitions[-1]

    def run(plan) -> dict[str, int]:
        hits: dict[str, int] = {}
        for partition, _ in plan.items():
            found = check_partition(
                warehouse, [lease], partition, [matcher], key,
                lambda rows, stored: vectors_of(rows, stored, settings, embedder.embed), EMBEDDER,
            )  # fmt: skip
            hits["bench"] = hits.get("bench", 0) + found["bench"]
        return hits

    indexed = time.perf_counter()
    corpus_plan = partitions_to_check(partitions[0], partitions[:-1], decontamination_store.checked(warehouse), key)
    corpus_hits = run(corpus_plan)
    corpus_done = time.perf_counter()
    nightly_plan = partitions_to_check(last, partitions, decontamination_store.checked(warehouse), key)
    nightly_hits = run(nightly_plan)
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({
        "read_file_s": loaded - started, "embed_prompts_s": embedded - loaded, "index_s": indexed - embedded,
        "corpus_check_s": corpus_done - indexed, "night_check_s": done - corpus_done, "peak_mb": peak_mb,
        "corpus_partitions": len(corpus_plan), "night_partitions": len(nightly_plan),
        "corpus_rows_hit": corpus_hits.get("bench", 0), "night_rows_hit": nightly_hits.get("bench", 0),
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--prompts", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        started = time.perf_counter()
        path, benchmark = build(folder, arguments.rows, arguments.prompts)
        built = time.perf_counter() - started
        runs = []
        for repeat in range(arguments.repeats):
            fresh = folder / f"repeat-{repeat}.duckdb"  # each repeat starts from the unchecked corpus
            shutil.copy(path, fresh)
            queue = context.Queue()
            vectors = str(folder / "prompt_vectors.npy")
            process = context.Process(target=check, args=(str(fresh), str(benchmark), vectors, queue))
            process.start()
            runs.append(queue.get())
            process.join()
    numbers = [key for key, value in runs[0].items() if isinstance(value, float)]
    summary = {key: round(statistics.median(run[key] for run in runs), 3) for key in numbers}
    print(json.dumps({"rows": arguments.rows, "prompts": arguments.prompts, "build_s": round(built, 1),
                      "runs": runs, "median": summary}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
