"""Pre-query templates for every family, derived from each family's real published chat template."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from magpie_dagster.domain.chat_templates import (
    FAMILIES,
    ChatFormat,
    ChatTemplateError,
    Message,
    derive_stop_strings,
    get_family,
    load_chat_template,
)
from magpie_dagster.domain.completion import ModelChatTemplate

PINNED = dt.date(2026, 11, 24)
LLAMA31_SYSTEM = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\nToday Date: 24 Nov 2026\n\n<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n"
)
# gpt-oss's harmony system message: its template writes the (pinned) date in.
GPT_OSS_SYSTEM = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: "
    "2024-06\nCurrent date: 2026-11-24\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. "
    "Channel must be included for every message.<|end|>"
)
# REFERENCE.md section 2, "official template renders" column.
OFFICIAL_PRE_QUERY = {
    "llama-3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
    "llama-3.1": LLAMA31_SYSTEM,
    "llama-3.3": LLAMA31_SYSTEM,
    "qwen2": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
    "qwen2.5": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n",
    "qwen3": "<|im_start|>user\n",
    "qwen3-no-thinking": "<|im_start|>user\n",
    "smollm2": "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\n",
    "phi-3": "<|user|>\n",
    "phi-3.5": "<|user|>\n",
    "gemma-2": "<bos><start_of_turn>user\n",
    # Not in REFERENCE.md's table: rendered by the published templates in official/ (SOURCES.md).
    "gemma-3": "<bos><start_of_turn>user\n",
    "phi-4": "<|im_start|>user<|im_sep|>",
    "mistral-v0.3": "<s>[INST] ",
    "yi-1.5": "<|im_start|>user\n",
    "deepseek-r1": "<｜begin▁of▁sentence｜><｜User｜>",
    "gpt-oss": GPT_OSS_SYSTEM + "<|start|>user<|message|>",
}
# REFERENCE.md section 2, "reference config" column (None: the reference has no config for the family).
REFERENCE_PRE_QUERY = {
    "llama-3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
    "qwen2": "<|im_start|>user\n",
    "phi-3": "<s> <|user|>\n",
    "gemma-2": "<bos><start_of_turn>user\n\n",
    "mistral-v0.3": "<s> [INST] ",
    "yi-1.5": "<|startoftext|><|im_start|>user\n",
    "qwen3": None,
    "smollm2": None,
    "deepseek-r1": None,
}
END_OF_TURN = {
    "llama-3": "<|eot_id|>",
    "llama-3.1": "<|eot_id|>",
    "llama-3.3": "<|eot_id|>",
    "qwen2": "<|im_end|>",
    "qwen2.5": "<|im_end|>",
    "qwen3": "<|im_end|>",
    "qwen3-no-thinking": "<|im_end|>",
    "smollm2": "<|im_end|>",
    "phi-3": "<|end|>",
    "phi-3.5": "<|end|>",
    "gemma-2": "<end_of_turn>",
    "gemma-3": "<end_of_turn>",
    "phi-4": "<|im_end|>",
    "mistral-v0.3": "</s>",
    "yi-1.5": "<|im_end|>",
    "deepseek-r1": "<｜end▁of▁sentence｜>",
    "gpt-oss": "<|end|>",
}


def test_every_family_in_the_reference_table_is_known():
    assert set(FAMILIES) == set(OFFICIAL_PRE_QUERY)


@pytest.mark.parametrize("family", sorted(OFFICIAL_PRE_QUERY))
def test_derivation_from_the_published_template_gives_the_official_pre_query(family):
    published = get_family(family).model_template()
    derived = ChatFormat.from_model_template(published, pinned_date=PINNED)
    assert derived.instruction_prompt() == OFFICIAL_PRE_QUERY[family]
    assert (
        ChatFormat.from_family(family, pinned_date=PINNED).instruction_prompt() == OFFICIAL_PRE_QUERY[family]
    )


@pytest.mark.parametrize("family", sorted(OFFICIAL_PRE_QUERY))
def test_tokenizer_config_json_gives_the_same_derivation(family, tmp_path):
    published = get_family(family).model_template()
    config = tmp_path / "tokenizer_config.json"
    config.write_text(
        json.dumps(
            {
                "chat_template": published.template,
                "bos_token": {"content": published.bos_token},
                "eos_token": published.eos_token,
            }
        ),
        encoding="utf-8",
    )
    loaded = load_chat_template(config)
    assert loaded.template == published.template
    assert (
        ChatFormat.from_model_template(loaded, pinned_date=PINNED).instruction_prompt()
        == OFFICIAL_PRE_QUERY[family]
    )


@pytest.mark.parametrize("family", sorted(REFERENCE_PRE_QUERY))
def test_reference_variant_is_the_reference_config_string(family):
    chat_format = ChatFormat.from_family(family, pinned_date=PINNED)
    expected = REFERENCE_PRE_QUERY[family]
    if expected is None:
        with pytest.raises(ChatTemplateError, match="no reference pre-query template"):
            chat_format.instruction_prompt(variant="reference")
    else:
        assert chat_format.instruction_prompt(variant="reference") == expected


@pytest.mark.parametrize("family", sorted(END_OF_TURN))
def test_derived_stop_strings_hold_the_end_of_turn_token(family):
    published = get_family(family).model_template()
    bare = ModelChatTemplate(
        template=published.template, bos_token=published.bos_token, eos_token=published.eos_token
    )
    assert END_OF_TURN[family] in derive_stop_strings(bare, PINNED)
    assert "<think>" not in derive_stop_strings(bare, PINNED)


def test_family_stop_strings_include_every_special_token_the_reference_lists():
    llama = ChatFormat.from_family("llama-3", pinned_date=PINNED).stop_strings
    assert {"<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"} <= set(llama)
    phi = ChatFormat.from_family("phi-3", pinned_date=PINNED).stop_strings
    assert {"</s>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"} <= set(phi)
    gemma = ChatFormat.from_family("gemma-2", pinned_date=PINNED).stop_strings
    assert {"<eos>", "<bos>", "<end_of_turn>"} <= set(gemma)
    mistral = ChatFormat.from_family("mistral-v0.3", pinned_date=PINNED).stop_strings
    assert {"<s>", "</s>", "[INST]", "[/INST]"} <= set(mistral)
    for chatml in ("qwen2", "qwen2.5", "qwen3", "smollm2", "yi-1.5"):
        stops = ChatFormat.from_family(chatml, pinned_date=PINNED).stop_strings
        assert {"<|im_start|>", "<|im_end|>", "<|endoftext|>"} <= set(stops)


def test_dates_are_pinned_to_the_partition_date():
    first = ChatFormat.from_family("llama-3.1", pinned_date=dt.date(2025, 1, 2)).instruction_prompt()
    assert "Today Date: 02 Jan 2025" in first
    assert first == ChatFormat.from_family("llama-3.1", pinned_date=dt.date(2025, 1, 2)).instruction_prompt()


def test_steering_puts_the_system_turn_before_the_user_header():
    qwen = ChatFormat.from_family("qwen2.5", pinned_date=PINNED)
    assert qwen.instruction_prompt(system_prompt="You are a math tutor.") == (
        "<|im_start|>system\nYou are a math tutor.<|im_end|>\n<|im_start|>user\n"
    )
    llama = ChatFormat.from_family("llama-3", pinned_date=PINNED)
    assert llama.instruction_prompt(system_prompt="You write Python.") == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou write Python.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
    )


def test_a_template_without_a_system_turn_refuses_steering_with_a_clear_error():
    gemma = ChatFormat.from_family("gemma-2", pinned_date=PINNED)
    assert not gemma.supports_system_prompt
    with pytest.raises(ChatTemplateError, match="no system turn"):
        gemma.instruction_prompt(system_prompt="You are a math tutor.")


def test_multi_turn_continues_with_the_next_user_header():
    history = [Message("user", "What is 2+2?"), Message("assistant", "4.")]
    llama = ChatFormat.from_family("llama-3", pinned_date=PINNED)
    assert llama.instruction_prompt(history=history) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    )
    smol = ChatFormat.from_family("smollm2", pinned_date=PINNED)
    assert smol.instruction_prompt(history=history).endswith(
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n<|im_start|>user\n"
    )


@pytest.mark.parametrize("family", sorted(OFFICIAL_PRE_QUERY))
def test_multi_turn_prompt_holds_the_history_in_order_for_every_family(family):
    chat_format = ChatFormat.from_family(family, pinned_date=PINNED)
    history = [Message("user", "Name a prime."), Message("assistant", "Seven is prime.")]
    prompt = chat_format.instruction_prompt(history=history)
    assert prompt.index("Name a prime.") < prompt.index("Seven is prime.")
    assert "Sentinel" not in prompt
    answer_prompt = chat_format.response_prompt("Name a prime.")
    assert answer_prompt.index("Name a prime.") > 0
    assert prompt.startswith(chat_format.instruction_prompt()[:8])


def test_response_prompt_ends_with_the_generation_prompt():
    smol = ChatFormat.from_family("smollm2", pinned_date=PINNED)
    assert smol.response_prompt("Say hi.") == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ChatTemplateError, match="Unknown template family 'llama-9'.*qwen2.5"):
        get_family("llama-9")


def test_a_template_that_never_renders_the_message_cannot_be_derived():
    silent = ModelChatTemplate(template="{% for m in messages %}<turn>{% endfor %}")
    with pytest.raises(ChatTemplateError, match="does not render the user's message"):
        ChatFormat.from_model_template(silent, pinned_date=PINNED).instruction_prompt()


def test_named_templates_in_tokenizer_config_use_the_default_one(tmp_path):
    config = tmp_path / "tokenizer_config.json"
    config.write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "tool_use", "template": "TOOLS {{ messages[0]['content'] }}"},
                    {"name": "default", "template": "<u>{{ messages[0]['content'] }}</u>"},
                ],
                "added_tokens_decoder": {"5": {"content": "<u>", "special": True}},
            }
        ),
        encoding="utf-8",
    )
    loaded = load_chat_template(config)
    assert ChatFormat.from_model_template(loaded, pinned_date=PINNED).instruction_prompt() == "<u>"
    assert loaded.extra_special_tokens == ("<u>",)


def test_a_tokenizer_without_a_chat_template_says_what_to_do(tmp_path):
    config = tmp_path / "tokenizer_config.json"
    config.write_text(json.dumps({"bos_token": "<s>"}), encoding="utf-8")
    with pytest.raises(ChatTemplateError, match="no 'chat_template'.*known family"):
        load_chat_template(config)


def test_qwen3_thinks_by_default_and_its_no_thinking_variant_answers_after_an_empty_think_block():
    thinking = ChatFormat.from_family("qwen3", pinned_date=PINNED).response_prompt("Hi")
    direct = ChatFormat.from_family("qwen3-no-thinking", pinned_date=PINNED).response_prompt("Hi")
    assert thinking == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert direct == thinking + "<think>\n\n</think>\n\n"


def test_gemma3_folds_a_system_prompt_into_the_first_user_turn():
    steered = ChatFormat.from_family("gemma-3", pinned_date=PINNED).instruction_prompt(system_prompt="Be brief.")
    assert steered == "<bos><start_of_turn>user\nBe brief.\n\n"


def test_gpt_oss_asks_in_harmony_and_its_answers_run_to_return_not_to_a_messages_end():
    harmony = ChatFormat.from_family("gpt-oss", pinned_date=PINNED)
    assert harmony.instruction_prompt(system_prompt="Ask about sums.") == (
        GPT_OSS_SYSTEM + "<|start|>developer<|message|># Instructions\n\nAsk about sums.\n\n<|end|>"
        "<|start|>user<|message|>"
    )
    assert harmony.response_prompt("What is 2+2?") == GPT_OSS_SYSTEM + (
        "<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant"
    )
    # a user turn ends at <|end|>; an answer (analysis, then final) only at <|return|> or a tool call
    assert "<|end|>" in harmony.stop_strings and harmony.answer_stop_strings == ("<|return|>", "<|call|>")
    assert ChatFormat.from_family("qwen3", pinned_date=PINNED).answer_stop_strings == (
        ChatFormat.from_family("qwen3", pinned_date=PINNED).stop_strings
    )
