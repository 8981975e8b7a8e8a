"""Safety verdicts from a guard model (Llama Guard family), read as a tag like any other.

Guard models carry their policy in their own chat template: they get the conversation as plain messages and
answer "safe", or "unsafe" and the violated categories ("S1,S10"). The verdict, the category names and the raw
answer are stored; an answer that is neither is a failed judgement, not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from magpie_dagster.domain.tagging.parse import JudgeAnswerError
from magpie_dagster.domain.tagging.tags import TagSpec

# Llama Guard 3's hazard taxonomy (MLCommons); Llama Guard 2 uses S1-S11 of the same list.
HAZARD_CATEGORIES = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}
_VERDICT = re.compile(r"^\s*(safe|unsafe)\b\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class GuardPrompt:
    """The conversation itself is the prompt; the version names that convention."""

    tag: str = "safety"
    version: str = "guard-conversation-v1"

    def messages(self, instruction: str, response: str = "") -> list[dict[str, str]]:
        conversation = [{"role": "user", "content": instruction}]
        if response:
            conversation.append({"role": "assistant", "content": response})
        return conversation


def read_guard_verdict(answer: str) -> dict[str, Any]:
    match = _VERDICT.match(answer or "")
    if not match:
        raise JudgeAnswerError("a guard model must answer 'safe' or 'unsafe' followed by categories")
    verdict = match.group(1).lower()
    codes = re.findall(r"S\d{1,2}", match.group(2).upper()) if verdict == "unsafe" else []
    return {
        "safety": verdict,
        "safety_categories": [HAZARD_CATEGORIES.get(code, code) for code in dict.fromkeys(codes)],
    }


SAFETY_TAG = TagSpec(
    name="safety",
    prompt=GuardPrompt(),  # type: ignore[arg-type]  (same `messages`/`version` surface as JudgePrompt)
    json_schema={},
    columns=("safety", "safety_categories"),
    to_columns=lambda data: data,
    reader=read_guard_verdict,
)
