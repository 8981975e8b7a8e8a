"""Our judging prompts, as data: one per judged tag, each with a version stored beside every label it yields.

Changing a prompt means adding a new version; the tagging stage then re-judges that tag only (the cache is
keyed on instruction, judge model and prompt version). Prompts ask for one JSON object and name its fields
and allowed labels, so unconstrained engines can still be parsed. Every version stays here so
`magpie-dagster eval-judge --prompt VERSION` can measure it against the hand-labelled set; `PROMPTS` holds the
version each tag uses, chosen by that measurement (docs/tagging.md, "How good is the judge?").
"""

from __future__ import annotations

from dataclasses import dataclass

from magpie_dagster.domain.tagging.labels import DIFFICULTY, INPUT_QUALITY, TASK_CATEGORIES


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

# Version 2 puts the request last, so every prompt of a tag shares everything before it: an engine that keeps
# the KV cache of a common prefix (llama.cpp, vLLM prefix caching) evaluates the rubric once, not per request.
_REQUEST_LAST = "Request:\n<<<\n{instruction}\n>>>"

# Version 2: anchored rubrics (what each label means, with an example) and one-line category definitions, as in
# the Magpie paper's task-classification prompt.
_DIFFICULTY_RUBRIC = (
    "Difficulty levels:\n"
    '- "very easy": a greeting, a single well-known fact or a one-step answer (What is the capital of Canada?).\n'
    '- "easy": common knowledge or a short, simple task (Write a haiku about snow; Solve 3x + 7 = 22).\n'
    '- "medium": needs some domain knowledge or several steps (plan an itinerary; debug a described error).\n'
    '- "hard": needs specialist knowledge, multi-step reasoning or a long, careful answer (a lock-free queue).\n'
    '- "very hard": expert level, such as a rigorous proof or research-level analysis.\n'
)
DIFFICULTY_PROMPT_V2 = JudgePrompt(
    tag="difficulty",
    version="difficulty-v2",
    system=_JUDGE_SYSTEM,
    user_template="Rate how hard the request below is to answer correctly.\n"
    + _DIFFICULTY_RUBRIC
    + "Say in one sentence what the user wants and what an assistant must know, then pick the level.\n"
    'Return {"intent": "The user wants to ...", "knowledge": "To solve this problem, the models need to know ...", '
    '"difficulty": one of ' + _quoted(DIFFICULTY) + "}.\n\n" + _REQUEST_LAST,
)

_QUALITY_RUBRIC = (
    "Quality levels:\n"
    '- "very poor": no clear request: a single word, gibberish or a bare "help".\n'
    '- "poor": the request can be guessed but lacks what is needed to answer (which code? which data?).\n'
    '- "average": a clear request without details or constraints.\n'
    '- "good": clear and specific, with enough context to answer.\n'
    '- "excellent": clear, specific and complete: context, constraints and the expected output.\n'
)
QUALITY_PROMPT_V2 = JudgePrompt(
    tag="quality",
    version="quality-v2",
    system=_JUDGE_SYSTEM,
    user_template="Rate how well the request below is written, not how hard it is.\n"
    + _QUALITY_RUBRIC
    + 'Return {"quality_explanation": "<one sentence>", "input_quality": one of '
    + _quoted(INPUT_QUALITY)
    + "}.\n\n"
    + _REQUEST_LAST,
)

_CATEGORY_DEFINITIONS = (
    '- "Information seeking": asks for facts or explanations about a topic.\n'
    '- "Reasoning": a logic puzzle, a riddle or a problem solved by careful thinking.\n'
    '- "Planning": a plan, schedule or strategy for an activity or project.\n'
    '- "Editing": rewrite, proofread, shorten or correct a given text.\n'
    '- "Coding & Debugging": write, explain or fix program code.\n'
    '- "Math": a calculation, an equation or a proof.\n'
    '- "Role playing": the assistant plays a character or persona.\n'
    '- "Data analysis": interpret numbers, statistics or a dataset.\n'
    '- "Creative writing": a story, poem, song or other creative text.\n'
    '- "Advice seeking": recommendations or guidance for a personal or professional situation.\n'
    '- "Brainstorming": a list of ideas or names.\n'
    '- "Others": greetings, thanks, chit-chat or anything that fits none of the above.\n'
)
CATEGORY_PROMPT_V2 = JudgePrompt(
    tag="category",
    version="category-v2",
    system=_JUDGE_SYSTEM,
    user_template="Which kind of task is the request below? Categories:\n"
    + _CATEGORY_DEFINITIONS
    + "Pick the one primary category, and any others that also apply.\n"
    'Return {"primary_tag": "<category>", "other_tags": ["<category>", ...]}.\n\n' + _REQUEST_LAST,
)

PROMPT_VERSIONS: dict[str, JudgePrompt] = {
    prompt.version: prompt
    for prompt in (
        DIFFICULTY_PROMPT,
        DIFFICULTY_PROMPT_V2,
        QUALITY_PROMPT,
        QUALITY_PROMPT_V2,
        CATEGORY_PROMPT,
        CATEGORY_PROMPT_V2,
        REWARD_PROMPT,
    )
}
"""Every prompt version that exists, by version name."""

PROMPTS: dict[str, JudgePrompt] = {
    prompt.tag: prompt for prompt in (DIFFICULTY_PROMPT_V2, QUALITY_PROMPT_V2, CATEGORY_PROMPT_V2, REWARD_PROMPT)
}
"""The version each tag is judged with: version 2 of each scored better than version 1 on the labelled set."""
