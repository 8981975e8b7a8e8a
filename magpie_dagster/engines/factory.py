"""Builds the engine a catalogue entry asks for. Heavy engines import lazily, so a laptop without vLLM works."""

from __future__ import annotations

from magpie_dagster.domain.completion import GenerationEngine
from magpie_dagster.domain.engine_config import Connection, LlamaCppConnection, OpenAIConnection, VllmConnection
from magpie_dagster.settings import models_dir

# Catalogue fields passed to the engine under the same name.
LLAMA_CPP_SETTINGS = ("n_ctx", "n_threads", "n_gpu_layers", "cpu_extra_buffers", "decoding", "parallel_sequences")
VLLM_SETTINGS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "dtype", "enforce_eager")


def open_engine(connection: Connection, api_key: str | None = None, label: str = "") -> GenerationEngine:
    """`api_key` is resolved by the caller from `api_key_env`; it is never stored or logged.

    `label` names the catalogue entry in error messages (a generator's key, or `judge` / `safety`).
    """
    if isinstance(connection, LlamaCppConnection):
        from magpie_dagster.engines.llama_cpp import LlamaCppEngine

        return LlamaCppEngine(connection.model, **_settings(connection, LLAMA_CPP_SETTINGS))
    if isinstance(connection, VllmConnection):
        from magpie_dagster.engines.vllm_engine import VllmEngine

        return VllmEngine(connection.model, models_dir=models_dir(), **_settings(connection, VLLM_SETTINGS))
    if isinstance(connection, OpenAIConnection):
        from magpie_dagster.engines.openai_server import OpenAICompletionsEngine

        return OpenAICompletionsEngine(
            model_name=connection.model,
            base_url=connection.base_url,
            api_key=api_key,
            max_concurrency=connection.max_concurrency,
            timeout_s=connection.timeout_s,
            max_retries=connection.max_retries,
            entry_key=label,
            api_key_env=connection.api_key_env,
            extra_body=connection.extra_body or None,
            structured_output=connection.structured_output,
        )
    raise TypeError(f"No engine for catalogue entry type {type(connection).__name__}")


def _settings(connection: Connection, names: tuple[str, ...]) -> dict:
    return {name: getattr(connection, name) for name in names}
