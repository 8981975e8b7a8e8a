"""The embedded CPU engine: llama.cpp through llama-cpp-python, default model the packaged SmolLM2 GGUF.

Requests run one after another on one context; llama-cpp-python keeps the previous prompt's KV cache and
reuses the longest common prefix, which is exactly Magpie's case (every instruction shares one prompt).

Each call starts from an empty KV cache, so its texts depend only on its requests: a reused prefix evaluates
the rest of the prompt in a smaller batch, and on CPUs whose batched and single-token kernels round differently
that changes the sample. A call (one committed batch) therefore gives the same texts for the same requests,
seeds and machine, whatever ran before it; the same seed twice inside one call is not guaranteed to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from magpie_dagster.domain.completion import (
    ChatRequest,
    Completion,
    CompletionRequest,
    EngineError,
    GenerationEngine,
    ModelChatTemplate,
)
from magpie_dagster.engines.bos import strip_duplicate_bos
from magpie_dagster.engines.llama_cpp_cpu import ExtraBuffers, load_llama
from magpie_dagster.engines.packaged_model import resolve_model_path


class LlamaCppEngine(GenerationEngine):
    engine_name = "llama_cpp"
    supports_json_schema = True  # a GBNF grammar built from the schema constrains every token

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        cpu_extra_buffers: ExtraBuffers = "auto",
    ):
        path = resolve_model_path(model)
        if not Path(path).is_file():
            raise EngineError(f"GGUF model file not found: {path} (set `model` in the catalogue to a .gguf path)")
        super().__init__(Path(path).stem if model != path else model)
        try:
            self._llama = load_llama(
                path, cpu_extra_buffers, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers, verbose=False
            )
        except (ValueError, RuntimeError) as error:
            raise EngineError(f"llama.cpp could not load {path}: {error}") from error
        self._bos_text = self._token_text(self._llama.token_bos())
        self._adds_bos = self._llama.tokenize(b"x", add_bos=True, special=True)[0] == self._llama.token_bos()

    @property
    def extra_buffers(self) -> bool:
        """Whether the loaded model may use llama.cpp's CPU weight repacks (off where the library has AMX)."""
        return self._llama.model_params.use_extra_bufts

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        self._llama.reset()
        return [self._complete_one(request) for request in requests]

    def _complete_one(self, request: CompletionRequest) -> Completion:
        sampling = request.sampling
        try:
            result = self._llama.create_completion(
                prompt=strip_duplicate_bos(request.prompt, self._bos_text, self._adds_bos),
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repetition_penalty,
                stop=list(sampling.stop) or None,
                seed=request.seed,
            )
        except ValueError as error:
            raise EngineError(f"llama.cpp rejected a request for {self.model_name}: {error}") from error
        choice = result["choices"][0]
        usage = result["usage"]
        return Completion(
            text=choice["text"],
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            finish_reason="length" if choice["finish_reason"] == "length" else "stop",
        )

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        self._llama.reset()
        return [self._chat_one(request) for request in requests]

    def _chat_one(self, request: ChatRequest) -> Completion:
        sampling = request.sampling
        response_format = {"type": "json_object", "schema": request.json_schema} if request.json_schema else None
        try:
            result = self._llama.create_chat_completion(
                messages=list(request.messages),
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repetition_penalty,
                seed=request.seed,
                response_format=response_format,
            )
        except ValueError as error:
            raise EngineError(f"llama.cpp rejected a chat request for {self.model_name}: {error}") from error
        choice = result["choices"][0]
        usage = result["usage"]
        return Completion(
            text=choice["message"]["content"] or "",
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            finish_reason="length" if choice["finish_reason"] == "length" else "stop",
        )

    def chat_template(self) -> ModelChatTemplate | None:
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        return ModelChatTemplate(
            template=template,
            bos_token=self._bos_text,
            eos_token=self._token_text(self._llama.token_eos()),
        )

    def _token_text(self, token_id: int) -> str:
        if token_id < 0:
            return ""
        return self._llama.detokenize([token_id], special=True).decode("utf-8", errors="replace")

    def close(self) -> None:
        self._llama.close()
