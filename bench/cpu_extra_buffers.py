"""What llama.cpp's CPU weight repacks (extra buffer types) are worth: the embedded engine with and without them.

The engine turns them off where the installed library carries the AMX path (it crashes on some Intel Xeons) and
keeps them elsewhere (`cpu_extra_buffers: auto`). This measures what that costs: the same Magpie instruction
prompts, seeds and sampling through `LlamaCppEngine` with `cpu_extra_buffers` true and false, alternated, each
repeat loading the model afresh; medians and the ratio per repeat pair. `--q4-0` also measures a Q4_0 copy of
the packaged model (re-quantised into a temporary folder), the quantisation the x86 repack rewrites.

    .venv/bin/python bench/cpu_extra_buffers.py --samples 24 --repeats 5 --q4-0
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from magpie_dagster.domain.completion import CompletionRequest, SamplingParams
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.llama_cpp_cpu import library_cpu_features
from magpie_dagster.engines.packaged_model import packaged_smollm2_path

PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)
STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--q4-0", action="store_true", help="also measure a Q4_0 copy of the packaged model")
    arguments = parser.parse_args()
    features = library_cpu_features()
    print(f"machine: {platform.processor() or platform.machine()}, {arguments.threads} threads; library: "
          + " ".join(name for name, value in features.items() if value == "1"))
    models = {"packaged Q4_1": packaged_smollm2_path()}
    with tempfile.TemporaryDirectory(prefix="magpie-bench-") as folder:
        if arguments.q4_0:
            models["Q4_0 copy"] = _requantise_q4_0(packaged_smollm2_path(), Path(folder) / "smollm2-q4_0.gguf")
        print("| model | repacks on (tokens/s) | repacks off (tokens/s) | off / on |")
        print("|---|---|---|---|")
        for name, path in models.items():
            on, off, ratios = _measure(path, arguments)
            print(f"| {name} | {statistics.median(on):.1f} | {statistics.median(off):.1f} | "
                  f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) |")


def _measure(path: Path, arguments) -> tuple[list[float], list[float], list[float]]:
    on: list[float] = []
    off: list[float] = []
    for repeat in range(arguments.repeats):
        order = (True, False) if repeat % 2 == 0 else (False, True)
        for extra_buffers in order:
            (on if extra_buffers else off).append(_tokens_per_s(path, extra_buffers, arguments))
    return on, off, [slow / fast for fast, slow in zip(on, off, strict=True)]


def _tokens_per_s(path: Path, extra_buffers: bool, arguments) -> float:
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=arguments.max_tokens, stop=STOPS)
    requests = [CompletionRequest(PRE_QUERY, sampling, seed) for seed in range(arguments.samples)]
    with LlamaCppEngine(str(path), n_ctx=1024, n_threads=arguments.threads, cpu_extra_buffers=extra_buffers) as engine:
        assert engine.extra_buffers is extra_buffers
        started = time.perf_counter()
        tokens = sum(completion.completion_tokens for completion in engine.complete(requests))
        return tokens / (time.perf_counter() - started)


def _requantise_q4_0(source: Path, target: Path) -> Path:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params) != 0:
        raise SystemExit(f"llama.cpp could not re-quantise {source} to Q4_0")
    return target


if __name__ == "__main__":
    main()
