"""Avoid a doubled BOS token: chat templates render the BOS text, and most tokenizers add BOS again."""

from __future__ import annotations


def strip_duplicate_bos(prompt: str, bos_text: str, tokenizer_adds_bos: bool) -> str:
    if tokenizer_adds_bos and bos_text and prompt.startswith(bos_text):
        return prompt[len(bos_text) :]
    return prompt
