"""The embedded engine on the real packaged SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

import llama_cpp
import pytest

from magpie_dagster.domain.completion import CompletionRequest, EngineError, SamplingParams
from magpie_dagster.engines.llama_cpp import LlamaCppEngine
from magpie_dagster.engines.packaged_model import PACKAGED_SMOLLM2, packaged_smollm2_path
from magpie_dagster_tests.nights import seed_offset

SMOLLM2_PRE_QUERY = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n"
)
CHATML_STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=1024, n_threads=2) as opened:
        yield opened


def test_packaged_model_is_found():
    path = packaged_smollm2_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_instruction_from_the_pre_query_template(engine):
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=96, stop=CHATML_STOPS)
    completions = engine.complete(
        [CompletionRequest(SMOLLM2_PRE_QUERY, sampling, seed_offset() + seed) for seed in (1, 2, 3)]
    )
    assert len(completions) == 3
    assert len({completion.text for completion in completions}) == 3, "distinct seeds give distinct samples"
    for completion in completions:
        assert not any(stop in completion.text for stop in CHATML_STOPS)
        assert completion.prompt_tokens > 10 and completion.completion_tokens > 0


def test_a_call_gives_the_same_texts_whatever_ran_before(engine):
    """What the engine guarantees (and resuming a partition relies on): a call is a function of its requests."""
    sampling = SamplingParams(temperature=1.0, max_tokens=32, stop=CHATML_STOPS)
    batch = [CompletionRequest(SMOLLM2_PRE_QUERY, sampling, seed_offset() + seed) for seed in (99, 7)]
    first = [completion.text for completion in engine.complete(batch)]
    engine.complete([CompletionRequest(SMOLLM2_PRE_QUERY + "Write a poem", sampling, 5)])  # other cache contents
    again = [completion.text for completion in engine.complete(batch)]
    assert first == again


def test_the_model_is_loaded_without_the_amx_repack(engine):
    """On every machine: the loaded model's parameters say whether llama.cpp may repack weights, and it may only
    where the library has no AMX path (llama.cpp issue 20824: SIGSEGV in ggml_backend_amx_mul_mat)."""
    loaded_with_repacks = engine._llama.model_params.use_extra_bufts
    library_reports_amx = b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()  # read apart from the engine's code
    assert loaded_with_repacks == (not library_reports_amx)


def test_repacks_can_be_turned_off_entirely():
    with LlamaCppEngine(PACKAGED_SMOLLM2, n_ctx=512, n_threads=2, cpu_extra_buffers=False) as engine:
        assert engine._llama.model_params.use_extra_bufts is False
        [completion] = engine.complete([CompletionRequest(SMOLLM2_PRE_QUERY, SamplingParams(max_tokens=4), 1)])
    assert completion.completion_tokens > 0


def test_max_tokens_gives_length(engine):
    [completion] = engine.complete(
        [
            CompletionRequest(
                SMOLLM2_PRE_QUERY + "Write a long essay about rivers.<|im_end|>\n<|im_start|>assistant\n",
                SamplingParams(temperature=0.0, max_tokens=4),
                0,
            )
        ]
    )
    assert completion.finish_reason == "length" and completion.completion_tokens == 4


def test_chat_template_comes_from_the_gguf(engine):
    template = engine.chat_template()
    assert "<|im_start|>" in template.template and "SmolLM" in template.template
    assert template.eos_token == "<|im_end|>"


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="GGUF model file not found"):
        LlamaCppEngine(str(tmp_path / "absent.gguf"))
