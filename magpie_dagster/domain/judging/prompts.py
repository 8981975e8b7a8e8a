"""Our judging prompts, as data: one per judged tag, each with a version stored beside every label it yields.

Changing a prompt means bumping its version; the tagging stage then re-judges that tag only (the cache is
keyed on instruction, judge model and prompt version). Prompts ask for one JSON object and name its fields
and allowed labels, so unconstrained engines can still be parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from magpie_dagster.domain.judging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES


@dataclass(frozen=True)
class JudgePrompt:
    tag: str
    version: str
    system: str
    user_template: str

    def messages(self, **values: str) -> list[dict[str, str]]:
        """Fills `{name}` slots by plain replacement, so braces in an instruction stay as they are."""
        content = self.user_template
        for name, value in values.items():
            content = content.replace("{" + name + "}", value)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": content}]


def _quoted(labels: tuple[str, ...]) -> str:
    return ", ".join(f'"{label}"' for label in labels)


_JUDGE_SYSTEM = (
    "You review user requests written for an AI assistant. You answer with exactly one JSON object and nothing else."
)
_REQUEST = "Request:\n<<<\n{instruction}\n>>>\n\n"

DIFFICULTY_PROMPT = JudgePrompt(
    tag="difficulty",
    version="difficulty-v1",
    system=_JUDGE_SYSTEM,
    user_template=_REQUEST
    + "Describe what the user wants and what an assistant must know to answer well, then rate how hard the "
    "request is to answer correctly.\n"
    'Return {"intent": "The user wants to ...", "knowledge": "To solve this problem, the models need to know ...", '
    '"difficulty": one of ' + _quoted(DIFFICULTY) + "}.",
)

QUALITY_PROMPT = JudgePrompt(
    tag="quality",
    version="quality-v1",
    system=_JUDGE_SYSTEM,
    user_template=_REQUEST
    + "Rate the request itself, not how hard it is: is it clear, specific and coherent, with the context an "
    "assistant needs? Explain in one or two sentences first.\n"
    'Return {"quality_explanation": "...", "input_quality": one of ' + _quoted(INPUT_QUALITY) + "}.",
)

CATEGORY_PROMPT = JudgePrompt(
    tag="category",
    version="category-v1",
    system=_JUDGE_SYSTEM,
    user_template=_REQUEST + "Which kind of task is this? Pick the primary category and any others that also apply.\n"
    "Categories: " + _quoted(TASK_CATEGORIES) + ".\n"
    'Return {"primary_tag": "<category>", "other_tags": ["<category>", ...]}.',
)

REWARD_PROMPT = JudgePrompt(
    tag="reward",
    version="reward-v1",
    system="You grade answers written by an AI assistant. You answer with exactly one JSON object and nothing else.",
    user_template=_REQUEST + "Answer:\n<<<\n{response}\n>>>\n\n"
    "Grade the answer for helpfulness, correctness and clarity from 1 (useless or wrong) to 10 (excellent).\n"
    'Return {"score": <integer 1-10>}.',
)

PROMPTS: dict[str, JudgePrompt] = {
    prompt.tag: prompt for prompt in (DIFFICULTY_PROMPT, QUALITY_PROMPT, CATEGORY_PROMPT, REWARD_PROMPT)
}
