"""vLLM in-process, the GPU production engine. Imported lazily: the `[vllm]` extra is a CUDA stack.

All requests of a call go to one `LLM.generate` with one SamplingParams per request, so every sample has
its own seed (one seed with n>1 would make the samples identical) while prefix caching shares the
pre-query template's KV cache across them.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    ):
        try:
            import vllm
        except ImportError as error:
            raise EngineError(
                "The vllm engine needs vLLM: `pip install 'magpie-dagster[vllm]'` on a machine with a CUDA GPU, "
                "or serve the model with `vllm serve` and use `engine: openai` in the catalogue."
            ) from error
        super().__init__(model)
        self._vllm = vllm
        self._llm = vllm.LLM(
            model=model,
            enable_prefix_caching=True,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
        )
        self._tokenizer = self._llm.get_tokenizer()
        bos_id = getattr(self._tokenizer, "bos_token_id", None)
        self._bos_text = getattr(self._tokenizer, "bos_token", None) or ""
        self._adds_bos = bos_id is not None and self._tokenizer("x").input_ids[:1] == [bos_id]

    def complete(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        prompts = [strip_duplicate_bos(request.prompt, self._bos_text, self._adds_bos) for request in requests]
        params = [self._sampling_params(request.sampling, request.seed) for request in requests]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        return [_to_completion(output) for output in outputs]

    def chat(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        params = [
            self._sampling_params(request.sampling, request.seed, **self._structured(request.json_schema))
            for request in requests
        ]
        outputs = self._llm.chat([list(request.messages) for request in requests], params, use_tqdm=False)
        return [_to_completion(output) for output in outputs]

    def _sampling_params(self, sampling: SamplingParams, seed: int | None, **structured):
        """One vLLM SamplingParams per request: every sample its own seed."""
        return self._vllm.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            repetition_penalty=sampling.repetition_penalty,
            stop=list(sampling.stop),
            seed=seed,
            **structured,
        )

    def _structured(self, schema: dict | None) -> dict:
        """vLLM >= 0.11 calls it `structured_outputs`; earlier releases `guided_decoding`."""
        if not schema:
            return {}
        sampling_module = self._vllm.sampling_params
        if hasattr(sampling_module, "StructuredOutputsParams"):
            return {"structured_outputs": sampling_module.StructuredOutputsParams(json=schema)}
        return {"guided_decoding": sampling_module.GuidedDecodingParams(json=schema)}

    def chat_template(self) -> ModelChatTemplate | None:
        template = getattr(self._tokenizer, "chat_template", None)
        if not template:
            return None
        return ModelChatTemplate(
            template=template,
            bos_token=self._bos_text,
            eos_token=getattr(self._tokenizer, "eos_token", None) or "",
        )


def _to_completion(output) -> Completion:
    sample = output.outputs[0]
    return Completion(
        text=sample.text,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(sample.token_ids),
        finish_reason="length" if sample.finish_reason == "length" else "stop",
    )
