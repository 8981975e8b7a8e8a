"""Reasoning models' answers, split into the reasoning and the final answer.

Three shapes are understood: a `<think>...</think>` block (DeepSeek-R1, Qwen3, QwQ; R1's template opens the block
in the generation prompt, so the text starts inside it), gpt-oss's harmony channels (`analysis` then `final`),
and a server's separate reasoning field (vLLM or SGLang with a reasoning parser). The answer alone goes in
`response` and in the conversation a later turn sees, as the models' own chat templates drop past reasoning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_HARMONY_MESSAGE = re.compile(
    r"(?:<\|start\|>assistant)?<\|channel\|>(?P<channel>\w+)(?:[^<]*)<\|message\|>(?P<body>.*?)"
    r"(?P<end><\|end\|>|<\|return\|>|<\|call\|>|(?=<\|start\|>)|$)",
    re.DOTALL,
)


@dataclass(frozen=True)
class SplitAnswer:
    response: str
    reasoning: str | None = None  # None: the answer has no reasoning
    reasoning_closed: bool | None = None  # False: the reasoning never ended (no answer followed)


def split_reasoning(text: str, prompt: str = "", server_reasoning: str | None = None) -> SplitAnswer:
    """`prompt`: what the text continues (a generation prompt may open the reasoning block itself)."""
    if server_reasoning and server_reasoning.strip():
        return SplitAnswer(text.strip(), server_reasoning.strip(), True)
    if "<|channel|>" in text:
        return _harmony(text)
    opened = prompt.rstrip().endswith(THINK_OPEN)
    body = text.lstrip()
    if body.startswith(THINK_OPEN):
        opened, body = True, body[len(THINK_OPEN) :]
    if not opened:
        return SplitAnswer(text.strip())
    reasoning, closed, answer = body.partition(THINK_CLOSE)
    if not reasoning.strip():
        return SplitAnswer(answer.strip())  # an empty block: thinking switched off (Qwen3's enable_thinking=False)
    return SplitAnswer(answer.strip(), reasoning.strip(), bool(closed))


def _harmony(text: str) -> SplitAnswer:
    analysis, final, analysis_ended = [], [], True
    for message in _HARMONY_MESSAGE.finditer(text):
        if message["channel"] == "final":
            final.append(message["body"].strip())
        elif message["channel"] == "analysis":
            analysis.append(message["body"].strip())
            analysis_ended = bool(message["end"])
    reasoning = "\n\n".join(part for part in analysis if part) or None
    closed = None if reasoning is None else analysis_ended and bool(final)
    return SplitAnswer("\n\n".join(final).strip(), reasoning, closed)
