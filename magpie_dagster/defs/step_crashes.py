"""Steps whose process died by a signal, read from a run's events, with what to try next.

Every step runs in its own process (the jobs' multiprocess executor), so a crash in native code (llama.cpp,
torch) ends that step; Dagster records it as an engine event "child process for step X was terminated by
signal N (SIGNAME)". The CLI and the `native_crash_advice` sensor turn that into one line a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

_CRASH_MESSAGE = re.compile(
    r"child process for step (?P<step>\S+) was terminated by signal (?P<number>\d+) \((?P<name>\w+)\)"
)

ADVICE_MARKER = "What to try:"
LLAMA_CPP_ADVICE = (
    "llama.cpp is the usual suspect on a CPU it mis-handles. Set `cpu_extra_buffers: false` on the catalogue "
    "entry (turns llama.cpp's CPU weight repacks off); if the step still dies, rebuild llama-cpp-python without "
    "the native CPU paths: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" .venv/bin/pip install --force-reinstall "
    "--no-cache-dir --no-deps llama-cpp-python==0.3.36"
)
GENERAL_ADVICE = (
    "a native library crashed (the step's compute log holds the Python stack of the crash). SIGKILL usually "
    "means the machine ran out of memory: lower `batch_size` or `n_ctx`."
)


@dataclass(frozen=True)
class StepCrash:
    step_key: str
    signal_number: int
    signal_name: str

    def describe(self, partition: str, uses_llama_cpp: bool) -> str:
        """One line: which partition and step, the signal, and what to try (llama.cpp first where it runs)."""
        advice = f"{LLAMA_CPP_ADVICE}. Otherwise {GENERAL_ADVICE}" if uses_llama_cpp else GENERAL_ADVICE
        return (
            f"partition {partition}: step {self.step_key} died by signal {self.signal_number} "
            f"({self.signal_name}); the other partitions run on. {ADVICE_MARKER} {advice}"
        )


def step_crashes(events: Iterable[dg.DagsterEvent | dg.EventLogEntry]) -> list[StepCrash]:
    """One crash per step (a retried step that crashes again is still one problem to report)."""
    crashes: dict[str, StepCrash] = {}
    for event in events:
        match = _CRASH_MESSAGE.search(event.message or "")
        if match:
            crashes[match["step"]] = StepCrash(match["step"], int(match["number"]), match["name"])
    return list(crashes.values())
