"""The vLLM engine's mapping to vLLM's API, against a stand-in `vllm` module (fast; the real vLLM's CPU build
is exercised in `test_vllm_real.py`).

The stand-in records what the engine asks of vLLM: prefix caching on, one SamplingParams per request
with that request's seed, the BOS text stripped when the tokenizer adds BOS itself, the engine core shut down
on close, one loaded engine per process.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, EngineError, SamplingParams
from magpie_dagster.engines.vllm_engine import VllmEngine


@dataclass
class _Encoding:
    input_ids: list[int]


class _Tokenizer:
    bos_token = "<|begin_of_text|>"
    bos_token_id = 128000
    eos_token = "<|eot_id|>"
    chat_template = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"

    def __call__(self, text: str) -> _Encoding:
        return _Encoding([self.bos_token_id, 42])


@dataclass
class _Sample:
    text: str
    token_ids: list[int]
    finish_reason: str


@dataclass
class _Output:
    prompt_token_ids: list[int]
    outputs: list[_Sample]


@dataclass
class _EngineCore:
    shutdowns: int = 0

    def shutdown(self, timeout: float | None = None) -> None:
        self.shutdowns += 1


@dataclass
class _FakeLLM:
    kwargs: dict
    calls: list = field(default_factory=list)
    core: _EngineCore = field(default_factory=_EngineCore)

    @property
    def llm_engine(self):
        return types.SimpleNamespace(engine_core=self.core)

    def get_tokenizer(self) -> _Tokenizer:
        return _Tokenizer()

    def chat(self, conversations, params, use_tqdm=True):
        self.calls.append((conversations, params))
        return [_Output([1, 2, 3], [_Sample('{"score": 7}', [5, 6], "stop")]) for _ in conversations]

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        return [
            _Output(
                [1] * len(prompt),
                [_Sample(f"text {p.seed}", [5] * p.max_tokens, "length" if p.max_tokens < 3 else "stop")],
            )
            for prompt, p in zip(prompts, params, strict=True)
        ]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    created: list[_FakeLLM] = []

    def make_llm(**kwargs):
        if kwargs["model"] == "missing/model":
            raise OSError("missing/model is not a local folder and is not a valid model identifier\nmore")
        created.append(_FakeLLM(kwargs))
        return created[-1]

    module.LLM = make_llm
    module.SamplingParams = lambda **kwargs: types.SimpleNamespace(**kwargs)
    module.sampling_params = types.SimpleNamespace(
        StructuredOutputsParams=lambda **kwargs: types.SimpleNamespace(kind="structured", **kwargs)
    )
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: True)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    return created


def test_requests_map_to_one_sampling_params_each_with_its_seed(fake_vllm):
    engine = VllmEngine("meta-llama/Meta-Llama-3-8B-Instruct", tensor_parallel_size=2)
    llm = fake_vllm[0]
    assert llm.kwargs["enable_prefix_caching"] is True
    assert llm.kwargs["tensor_parallel_size"] == 2
    sampling = SamplingParams(temperature=1.0, top_p=0.99, max_tokens=8, stop=("<|eot_id|>",))
    prompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    completions = engine.complete([CompletionRequest(prompt, sampling, seed) for seed in (11, 12, 13)])
    prompts, params = llm.calls[0]
    assert prompts == ["<|start_header_id|>user<|end_header_id|>\n\n"] * 3  # no doubled BOS
    assert [p.seed for p in params] == [11, 12, 13]
    assert params[0].stop == ["<|eot_id|>"] and params[0].top_p == 0.99
    assert params[0].skip_special_tokens is False  # role tokens and harmony channels reach the sanitiser
    assert [c.text for c in completions] == ["text 11", "text 12", "text 13"]
    assert completions[0].completion_tokens == 8 and completions[0].finish_reason == "stop"


def test_length_finish_and_chat_template(fake_vllm):
    engine = VllmEngine("m")
    [completion] = engine.complete([CompletionRequest("hi", SamplingParams(max_tokens=2), 1)])
    assert completion.finish_reason == "length"
    template = engine.chat_template()
    assert template.bos_token == "<|begin_of_text|>" and template.eos_token == "<|eot_id|>"


def test_missing_vllm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(EngineError, match=r"magpie-dagster\[vllm\]"):
        VllmEngine("m")


def test_judge_chat_is_constrained_to_the_schema(fake_vllm):
    engine = VllmEngine("m")
    assert engine.supports_json_schema
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    messages = ({"role": "user", "content": "grade this"},)
    [completion] = engine.chat([ChatRequest(messages, SamplingParams(temperature=0.0, max_tokens=20), 5, schema)])
    conversations, params = fake_vllm[0].calls[0]
    assert conversations == [[{"role": "user", "content": "grade this"}]]
    assert params[0].structured_outputs.json == schema and params[0].seed == 5
    assert completion.text == '{"score": 7}' and completion.prompt_tokens == 3 and completion.completion_tokens == 2


def test_close_shuts_the_engine_core_down_and_a_later_call_loads_again(fake_vllm):
    engine = VllmEngine("m")
    first = fake_vllm[0]
    engine.close()
    engine.close()
    assert first.core.shutdowns == 1
    engine.complete([CompletionRequest("hi", SamplingParams(max_tokens=4), 1)])
    assert len(fake_vllm) == 2 and fake_vllm[1].calls and not first.calls[1:]


def test_a_process_holds_one_loaded_engine_the_other_unloads_first(fake_vllm):
    generator = VllmEngine("generator")
    judge = VllmEngine("judge")
    assert fake_vllm[0].core.shutdowns == 1 and fake_vllm[1].core.shutdowns == 0
    generator.complete([CompletionRequest("hi", SamplingParams(max_tokens=4), 1)])  # loads again, the judge goes
    assert fake_vllm[1].core.shutdowns == 1
    judge.chat([ChatRequest(({"role": "user", "content": "grade"},), SamplingParams(max_tokens=4), 1)])
    assert fake_vllm[2].core.shutdowns == 1
    assert [llm.kwargs["model"] for llm in fake_vllm] == ["generator", "judge", "generator", "judge"]


def test_eager_by_default_on_the_cpu_build_and_as_the_catalogue_says(fake_vllm):
    VllmEngine("m")
    VllmEngine("m", enforce_eager=False)
    assert [llm.kwargs["enforce_eager"] for llm in fake_vllm] == [True, False]


def test_a_model_vllm_cannot_load_is_an_engine_error_that_names_it(fake_vllm):
    with pytest.raises(EngineError, match=r"vLLM could not load missing/model: OSError: missing/model is not"):
        VllmEngine("missing/model")
