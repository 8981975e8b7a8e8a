"""One command for the performance summary (docs/performance.md): every benchmark, alone and in order, one table.

Runs (each in its own process, one after another: llama.cpp's threads busy-wait, so nothing may run beside them)
  generation_throughput.py  tokens/s through the asset graph and `magpie_job` against raw llama-cpp-python
  batched_decoding.py       batched against single-stream decoding; judged instructions per minute per tag
  dedup_scale.py            the dedup search at 100k and 1M rows (exact and faiss), peak memory
  curation_export.py        the Pro-300K recipe plus every export format at 100k and 1M rows
  magpie-dagster run        the main command, in a scratch directory, wall time
prints the table and, with --write-docs, puts it between docs/performance.md's `bench-summary` markers. Medians of
`--repeats` runs; every ratio is measured within one run. Takes about 40 minutes on 2 cores (`--quick`: about 5,
for trying the command, not for quoting).

    .venv/bin/python bench/report.py --write-docs --json bench-report.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE_PAGE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--main-runs", type=int, default=1, help="runs of the main command (2-3 minutes each)")
    parser.add_argument("--quick", action="store_true", help="small workloads: checks the command, not for quoting")
    parser.add_argument("--write-docs", action="store_true", help="replace docs/performance.md's summary table")
    parser.add_argument("--json", type=Path, help="also write every benchmark's own report here")
    parser.add_argument("--from-json", type=Path, help="render a saved --json report instead of running")
    arguments = parser.parse_args()
    if arguments.from_json:
        results = json.loads(arguments.from_json.read_text())
    else:
        results = run_all(arguments.repeats, arguments.main_runs, arguments.quick)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    table = render(results)
    print(table)
    if arguments.write_docs:
        PERFORMANCE_PAGE.write_text(replace_between_markers(PERFORMANCE_PAGE.read_text(), table))
        print(f"wrote the table into {PERFORMANCE_PAGE}")


def run_all(repeats: int, main_runs: int, quick: bool) -> dict:
    sizes = [2_000, 10_000] if quick else [100_000, 1_000_000]
    return {
        "machine": machine(),
        "date": dt.date.today().isoformat(),
        "repeats": repeats,
        "generation": bench(
            "generation_throughput.py", "--repeats", repeats, "--instructions", 8 if quick else 50,
            *(["--response-max-tokens", 48] if quick else []),
        ),  # fmt: skip
        "batched": bench(
            "batched_decoding.py", "--repeats", repeats, "--samples", 16 if quick else 64,
            "--judge-items", 6 if quick else 24,
        ),  # fmt: skip
        "dedup": bench_lines("dedup_scale.py", "--sizes", *sizes),
        "curation": [bench("curation_export.py", "--rows", rows, "--repeats", repeats) for rows in sizes],
        "main_command_s": [main_command() for _ in range(main_runs)],
    }


def bench(script: str, *arguments) -> dict:
    """A benchmark's JSON report (its stdout)."""
    return json.loads(_run_bench(script, arguments))


def bench_lines(script: str, *arguments) -> list[dict]:
    """A benchmark that prints one JSON object per line."""
    return [json.loads(line) for line in _run_bench(script, arguments).splitlines() if line.startswith("{")]


def _run_bench(script: str, arguments: tuple) -> str:
    command = [sys.executable, str(ROOT / "bench" / script), *map(str, arguments)]
    print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def main_command() -> float:
    """`magpie-dagster run` in a scratch directory (its own warehouse and Dagster home), wall seconds."""
    command = [str(Path(sys.executable).with_name("magpie-dagster")), "run"]
    print("running magpie-dagster run", file=sys.stderr, flush=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("MAGPIE_", "DAGSTER_"))}
    with tempfile.TemporaryDirectory(prefix="magpie-main-") as scratch:
        started = time.perf_counter()
        done = subprocess.run(command, cwd=scratch, env=environment, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"magpie-dagster run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return round(seconds, 1)


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model = names[0] if names else model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, no GPU"


def render(results: dict) -> str:
    """The performance page's summary table from `run_all`'s results."""
    generation, batched = results["generation"], results["batched"]
    rates, to_raw = generation["tokens_per_s_median"], generation["ratio_to_raw"]
    stage_rates = generation["stage_tokens_per_s_median"]
    decoded = batched["median"]
    rows = [
        ("generation through the asset graph (default: batched decoding)",
         f"{rates['asset_graph/batched']} tokens/s (raw llama-cpp-python {rates['raw']})",
         f"{to_raw['asset_graph/batched']:.2f}x raw"),
        ("the same per stage: instructions / responses (each stage's tokens over its step's time)",
         f"{_per_stage(stage_rates['asset_graph/batched'])} tokens/s (raw {_per_stage(stage_rates['raw'])})",
         _per_stage(generation["stage_ratio_to_raw"]["asset_graph/batched"], "{:.2f}x")),
        ("generation through the asset graph, `decoding: sequential` (the raw engine's own path)",
         f"{rates['asset_graph/sequential']} tokens/s", f"{to_raw['asset_graph/sequential']:.2f}x raw"),
        ("generation through `magpie_job` (a process per step), `decoding: sequential`",
         f"{rates['magpie_job/sequential']} tokens/s", f"{to_raw['magpie_job/sequential']:.2f}x raw"),
        ("engine calls of 16: batched vs single stream",
         f"{decoded['generation_tokens_per_s/batched']} vs {decoded['generation_tokens_per_s/sequential']} tokens/s",
         f"{batched['ratio_batched_to_sequential']['generation_tokens_per_s']:.2f}x"),
    ]  # fmt: skip
    for tag in ("difficulty", "quality", "category"):
        key = f"judged_per_minute/{tag}"
        rows.append(
            (f"judging `{tag}` (batched vs single stream)",
             f"{decoded[key + '/batched']} vs {decoded[key + '/sequential']} instructions/minute",
             f"{batched['ratio_batched_to_sequential'][key]:.2f}x"),
        )  # fmt: skip
    for size in results["dedup"]:
        exact = f", exact {size['exact_total_s']} s" if "exact_total_s" in size else ""
        rows.append(
            (f"dedup of {size['rows']:,} rows against themselves",
             f"faiss {size['approx_total_s']} s{exact}; peak {size['peak_rss_gib_dedup']} GiB",
             f"top-1 recall {size['top1_recall_vs_exact']:.0%}"),
        )  # fmt: skip
    for curation in results["curation"]:
        seconds = curation["seconds_median"]
        rows.append(
            (f"curation (Pro-300K) + 3 export formats, {curation['rows']:,} rows",
             f"{seconds['total']} s (recipe {seconds['curate']} s)", f"{curation['kept']:,} kept"),
        )  # fmt: skip
    main_seconds = statistics.median(results["main_command_s"])
    runs = len(results["main_command_s"])
    wall = f"{int(main_seconds // 60)}:{main_seconds % 60:04.1f}"
    rows.append(("the main command (`magpie-dagster run`, every stage)", wall, f"median of {runs} run(s)"))
    lines = [
        f"Measured by `bench/report.py` on {results['date']}: {results['machine']}; medians of "
        f"{results['repeats']} repeats, ratios within one run. Workload: {generation['workload']}.",
        "",
        "| what | result | ratio |",
        "|---|---|---|",
        *(f"| {what} | {result} | {ratio} |" for what, result, ratio in rows),
    ]
    return "\n".join(lines)


def _per_stage(figures: dict, form: str = "{}") -> str:
    """generation_throughput.py's per-stage figures in its order of stages (instructions, then responses)."""
    return " / ".join(form.format(figure) for figure in figures.values())


def replace_between_markers(text: str, table: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{PERFORMANCE_PAGE} has no {START} ... {END} markers to write the table between")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


if __name__ == "__main__":
    main()
