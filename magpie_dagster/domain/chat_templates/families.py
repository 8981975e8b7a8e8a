"""The chat formats Magpie knows by name: each family's published template, tokens and reference prompt.

`template` in the catalogue names one of these; the official template files live in `official/` verbatim
(sources in official/SOURCES.md), so the pre-query template is derived from them exactly as for `auto`.
`reference_pre_query` is the string the paper's reference configs store (`template_variant: reference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from magpie_dagster.domain.chat_templates.render import ChatTemplateError
from magpie_dagster.domain.completion import ModelChatTemplate

LLAMA3_STOPS = ("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>")
CHATML_STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
PHI3_STOPS = ("</s>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>")
GEMMA2_STOPS = ("<eos>", "<bos>", "<end_of_turn>")
PHI4_STOPS = ("<|im_start|>", "<|im_sep|>", "<|im_end|>", "<|endoftext|>")
MISTRAL_STOPS = ("<s>", "</s>", "[INST]", "[/INST]")
# gpt-oss (harmony): a user turn ends at <|end|>; an answer is an analysis message and a final one, ending at
# <|return|> (or <|call|> for a tool call).
HARMONY_STOPS = ("<|end|>", "<|start|>", "<|return|>", "<|call|>", "<|channel|>", "<|message|>")
HARMONY_ANSWER_STOPS = ("<|return|>", "<|call|>")
DEEPSEEK_STOPS = ("<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>")


@dataclass(frozen=True)
class Family:
    name: str
    template_file: str
    bos_token: str
    eos_token: str
    stop_strings: tuple[str, ...]
    reference_pre_query: str | None = None
    render_options: tuple[tuple[str, object], ...] = ()
    answer_stops: tuple[str, ...] | None = None  # see `ChatFormat.answer_stop_strings`

    def model_template(self) -> ModelChatTemplate:
        source = files("magpie_dagster.domain.chat_templates").joinpath("official", self.template_file)
        return ModelChatTemplate(
            template=source.read_text(encoding="utf-8"),
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            extra_special_tokens=self.stop_strings,
            render_options=self.render_options,
        )


_LLAMA3_REFERENCE = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "llama-3", "llama-3.jinja", "<|begin_of_text|>", "<|eot_id|>", LLAMA3_STOPS, _LLAMA3_REFERENCE
        ),
        Family(
            "llama-3.1", "llama-3.1.jinja", "<|begin_of_text|>", "<|eot_id|>", LLAMA3_STOPS, _LLAMA3_REFERENCE
        ),
        Family(
            "llama-3.3", "llama-3.3.jinja", "<|begin_of_text|>", "<|eot_id|>", LLAMA3_STOPS, _LLAMA3_REFERENCE
        ),
        Family("qwen2", "qwen2.jinja", "", "<|im_end|>", CHATML_STOPS, "<|im_start|>user\n"),
        Family(
            "qwen2.5",
            "qwen2.5.jinja",
            "",
            "<|im_end|>",
            CHATML_STOPS,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n",
        ),
        Family("qwen3", "qwen3.jinja", "", "<|im_end|>", CHATML_STOPS),
        # Qwen3's `enable_thinking=False`: answers open with an empty <think></think> block and skip reasoning.
        Family(
            "qwen3-no-thinking", "qwen3.jinja", "", "<|im_end|>", CHATML_STOPS,
            render_options=(("enable_thinking", False),),
        ),  # fmt: skip
        Family("smollm2", "smollm2.jinja", "<|im_start|>", "<|im_end|>", CHATML_STOPS),
        Family("phi-3", "phi-3.jinja", "<s>", "<|endoftext|>", PHI3_STOPS, "<s> <|user|>\n"),
        Family("phi-3.5", "phi-3.5.jinja", "<s>", "<|endoftext|>", PHI3_STOPS, "<s> <|user|>\n"),
        Family("gemma-2", "gemma-2.jinja", "<bos>", "<eos>", GEMMA2_STOPS, "<bos><start_of_turn>user\n\n"),
        Family("gemma-3", "gemma-3.jinja", "<bos>", "<eos>", GEMMA2_STOPS),
        Family("phi-4", "phi-4.jinja", "<|endoftext|>", "<|im_end|>", PHI4_STOPS),
        Family("mistral-v0.3", "mistral-v0.3.jinja", "<s>", "</s>", MISTRAL_STOPS, "<s> [INST] "),
        Family(
            "yi-1.5",
            "yi-1.5.jinja",
            "<|startoftext|>",
            "<|im_end|>",
            CHATML_STOPS,
            "<|startoftext|><|im_start|>user\n",
        ),
        Family(
            "gpt-oss", "gpt-oss.jinja", "<|startoftext|>", "<|return|>", HARMONY_STOPS,
            answer_stops=HARMONY_ANSWER_STOPS,
        ),  # fmt: skip
        Family(
            "deepseek-r1",
            "deepseek-r1.jinja",
            "<｜begin▁of▁sentence｜>",
            "<｜end▁of▁sentence｜>",
            DEEPSEEK_STOPS,
        ),
    )
}

ALIASES = {"llama3": "llama-3", "mistral": "mistral-v0.3", "yi": "yi-1.5", "phi3": "phi-3"}


def get_family(name: str) -> Family:
    family = FAMILIES.get(ALIASES.get(name, name))
    if family is None:
        raise ChatTemplateError(
            f"Unknown template family {name!r}; use one of: {', '.join(FAMILIES)}, or 'auto' to derive it from "
            "the model's own chat template"
        )
    return family
