"""The embedded CPU engine: llama.cpp through llama-cpp-python, default model the packaged SmolLM2 GGUF.

`decoding: batched` (the default) decodes up to `parallel_sequences` requests together on a second context over
the same weights (`llama_cpp_batch`), the shared prompt prefix evaluated once. `decoding: sequential` runs
requests one after another through llama-cpp-python's high-level API on one context, which keeps the previous
prompt's KV cache and reuses the longest common prefix.

Each call starts from an empty KV cache, so its texts depend only on its requests: a reused prefix evaluates
the rest of the prompt in a smaller batch, and on CPUs whose batched and single-token kernels round differently
that changes the sample. A call (one committed batch) therefore gives the same texts for the same requests,
seeds and machine, whatever ran before it; the same seed twice inside one call is not guaranteed to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from llama_cpp import LlamaGrammar
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from magpie_dagster.domain.completion import (
    ChatRequest,
    Completion,
    CompletionRequest,
    EngineError,
    GenerationEngine,
    ModelChatTemplate,
)
from magpie_dagster.engines.bos import strip_duplicate_bos
from magpie_dagster.engines.llama_cpp_batch import BatchedDecoder
from magpie_dagster.engines.llama_cpp_cpu import ExtraBuffers, load_llama, thread_count
from magpie_dagster.engines.llama_cpp_jobs import DecodeJob, cells_needed, holds_prefix_once, shared_prefix
from magpie_dagster.engines.packaged_model import resolve_model_path
from magpie_dagster.engines.prefix_states import PrefixStates

Decoding = Literal["batched", "sequential"]


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
        decoding: Decoding = "batched",
        parallel_sequences: int = 16,
    ):
        path = resolve_model_path(model)
        if not Path(path).is_file():
            raise EngineError(f"GGUF model file not found: {path} (set `model` in the catalogue to a .gguf path)")
        super().__init__(Path(path).stem if model != path else model)
        n_threads = thread_count(n_threads)
        try:
            self._llama = load_llama(
                path, cpu_extra_buffers, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers, verbose=False
            )
        except (ValueError, RuntimeError) as error:
            raise EngineError(f"llama.cpp could not load {path}: {error}") from error
        self._bos_text = self._token_text(self._llama.token_bos())
        self._adds_bos = self._llama.tokenize(b"x", add_bos=True, special=True)[0] == self._llama.token_bos()
        self.decoding = decoding
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._parallel_sequences = parallel_sequences
        self._decoder: BatchedDecoder | None = None
        self._prefix_states = PrefixStates()
        self._chat_formatter: Jinja2ChatFormatter | None = None

    @property
    def extra_buffers(self) -> bool:
        """Whether the loaded model may use llama.cpp's CPU weight repacks (off where the library has AMX)."""
        return self._llama.model_params.use_extra_bufts

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        if self.decoding == "batched":
            return self._run_batched([self._completion_job(request) for request in requests])
        self._llama.reset()
        return [self._complete_one(request) for request in requests]

    def _completion_job(self, request: CompletionRequest) -> DecodeJob:
        prompt = strip_duplicate_bos(request.prompt, self._bos_text, self._adds_bos)
        tokens = self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        return DecodeJob(tuple(tokens), request.sampling, request.seed)

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
        if self.decoding == "batched":
            return self._run_batched([self._chat_job(request) for request in requests])
        self._llama.reset()
        return [self._chat_one(request) for request in requests]

    def _chat_job(self, request: ChatRequest) -> DecodeJob:
        """The prompt, stop strings and grammar llama-cpp-python's `create_chat_completion` would use."""
        rendered = self._formatter()(messages=list(request.messages))
        tokens = self._llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        template_stops = [rendered.stop] if isinstance(rendered.stop, str) else list(rendered.stop or [])
        sampling = replace(request.sampling, stop=(*request.sampling.stop, *template_stops))
        grammar = None
        if request.json_schema:
            grammar = LlamaGrammar.from_json_schema(json.dumps(request.json_schema), verbose=False)._grammar
        return DecodeJob(tuple(tokens), sampling, request.seed, grammar)

    def _formatter(self) -> Jinja2ChatFormatter:
        if self._chat_formatter is None:
            template = self.chat_template()
            if template is None:
                raise EngineError(f"{self.model_name} has no chat template in its GGUF metadata: it cannot judge")
            self._chat_formatter = Jinja2ChatFormatter(
                template=template.template,
                eos_token=template.eos_token,
                bos_token=template.bos_token,
                stop_token_ids=[self._llama.token_eos()],
            )
        return self._chat_formatter

    def complete_stream(self, requests: Sequence[CompletionRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        """Batched, a whole stage's requests go through one context: a finished sequence's slot takes the next
        request at once, across the caller's commit batches, so the slots idle only in the stream's last steps."""
        if self.decoding != "batched":
            return super().complete_stream(requests, chunk)
        return self._stream_batched([self._completion_job(request) for request in requests])

    def chat_stream(self, requests: Sequence[ChatRequest], chunk: int) -> Iterator[tuple[int, Completion]]:
        if self.decoding != "batched":
            return super().chat_stream(requests, chunk)
        return self._stream_batched([self._chat_job(request) for request in requests])

    def _run_batched(self, jobs: Sequence[DecodeJob]) -> list[Completion]:
        finished = dict(self._stream_batched(jobs))
        return [finished[index] for index in range(len(jobs))]

    def _stream_batched(self, jobs: Sequence[DecodeJob]) -> Iterator[tuple[int, Completion]]:
        if not jobs:
            return
        for job in jobs:
            if len(job.prompt_tokens) + job.sampling.max_tokens > self._n_ctx:
                raise EngineError(
                    f"A request for {self.model_name} needs {len(job.prompt_tokens)} prompt tokens plus max_tokens "
                    f"{job.sampling.max_tokens}, more than the entry's n_ctx {self._n_ctx}: raise n_ctx"
                )
        for index, result in self._batched_decoder(jobs).stream(jobs):
            yield index, Completion(result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason)

    def _batched_decoder(self, jobs: Sequence[DecodeJob]) -> BatchedDecoder:
        """A context that fits these jobs, grown (never shrunk) as calls need; made anew when the KV layout changes."""
        prefix_length = len(shared_prefix(jobs))
        unified = holds_prefix_once(prefix_length)
        cells = cells_needed(jobs, prefix_length, self._parallel_sequences if unified else 1)
        if self._decoder is None or self._decoder.unified != unified or cells > self._decoder.cells:
            if self._decoder is not None:
                self._decoder.close()
            self._decoder = BatchedDecoder(
                self._llama,
                max_sequences=self._parallel_sequences,
                cells=cells,
                unified=unified,
                n_threads=self._n_threads,
                prefix_states=self._prefix_states,
            )
        return self._decoder

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
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        self._llama.close()
