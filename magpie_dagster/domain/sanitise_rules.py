"""The instruction sanitiser's rule ids and patterns, kept as data so a rule change is a reviewable diff.

Rule ids are stored with every instruction row (`sanitiser_rules`), so an analyst can `GROUP BY` them:
never rename one. The patterns implement the intent of the Magpie reference sanitiser, not its bugs (see
REFERENCE.md section 3): plain "Answer:" matches, leading numbers and "C#" are left alone, and a '#' only
counts as markdown at the start of a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STRIP_BOLD_TAGS = "strip_bold_tags"
STRIP_LEADING_LABEL = "strip_leading_label"
CUT_SELF_ANSWER = "cut_self_answer"
STRIP_EMPHASIS = "strip_emphasis"
STRIP_QUOTES = "strip_quotes"

RULE_IDS = (STRIP_BOLD_TAGS, STRIP_LEADING_LABEL, CUT_SELF_ANSWER, STRIP_EMPHASIS, STRIP_QUOTES)

# A label the model wrote before its query ("Question:", "**Task**", "## Question 3:", "Q1."). The match is
# only accepted when the label is clearly one (a separator, bold wrapping, or a heading alone on its line):
# that check lives in sanitise.py, so "Question everything" or "# Task management" keep their first word.
LEADING_LABEL = re.compile(
    r"""
    \A
    (?P<heading>\#{1,6}[ \t]*)?
    (?P<open>\*{1,2}|__)?
    [ \t]*
    (?:
        (?P<numbered>(?:question|part|problem|task|exercise|q)[ \t]*\#?[ \t]*\d+)
      | (?P<plain>original[ \t]+prompt|user[ \t]+(?:question|query|request)
          |task|question|query|instructions?|user|prompt|problem|request|q)
    )
    [ \t]*
    (?P<inner_sep>[:：]|[.)](?=[\s*_]|\Z))?
    [ \t]*
    (?P<close>\*{1,2}|__)?
    [ \t]*
    (?P<outer_sep>[:：])?
    (?P<gap>\s*)
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class AnswerMarker:
    """Where the model starts answering its own query.

    `after_question_only` marks phrases a user also writes ("Here are some numbers: ...", "Step 1: I ran
    ..."): they only count as the model answering when they follow a question mark.
    """

    name: str
    pattern: str
    after_question_only: bool


# A marker counts only at the start of a segment: a new line, or after sentence-ending punctuation; never as
# the first words of the instruction ("Explanation: ..." alone is left as it is).
SEGMENT_START = r"(?:^[ \t]*|(?<=[.?!。？！])[ \t]+)"
# Markdown a model puts around a label: a heading, a quote bar, bold.
MARKER_DECORATION = r"(?:\#{1,6}[ \t]*)?(?:>[ \t]*)?(?:\*{1,2}|__)?[ \t]*"
_LABEL_COLON = r"[ \t]*(?:\*{1,2}|__)?[ \t]*:"

ANSWER_MARKERS = (
    AnswerMarker("Answer:", r"(?:(?:Final|Correct|Short)[ \t]+)?[Aa]nswers?" + _LABEL_COLON, False),
    AnswerMarker("Explanation:", r"Explanation" + _LABEL_COLON, False),
    AnswerMarker("Solution:", r"Solution(?:[ \t]+Approach)?" + _LABEL_COLON, False),
    AnswerMarker("# Step 1", r"\#{1,6}[ \t]*(?:\*{1,2})?Step[ \t]*1\b", False),
    AnswerMarker("The answer is", r"The[ \t]+(?:correct[ \t]+|final[ \t]+)?answer[ \t]+is\b", True),
    AnswerMarker("Here are some", r"Here[ \t]+are[ \t]+some\b", True),
    AnswerMarker("Step 1:", r"Step[ \t]*1[ \t]*(?:\*{1,2})?[ \t]*[:.)]", True),
)

ANSWER_MARKER_PATTERNS = tuple(
    (marker, re.compile(SEGMENT_START + MARKER_DECORATION + marker.pattern, re.MULTILINE))
    for marker in ANSWER_MARKERS
)

QUESTION_MARKS = ("?", "？")
# Closing decoration that may sit after the question mark before the answer starts.
CLOSING_DECORATION = "*_\"”')] \t\r\n"

# `<b>`/`</b>` left around the query; "the <b> tag" inside a question is content and stays.
OPEN_BOLD_TAG = re.compile(r"\A<\s*b\s*>", re.IGNORECASE)
CLOSE_BOLD_TAG = re.compile(r"<\s*/\s*b\s*>", re.IGNORECASE)
ANY_OPEN_BOLD_TAG = re.compile(r"<\s*b\s*>", re.IGNORECASE)
TRAILING_CLOSE_BOLD_TAG = re.compile(r"<\s*/\s*b\s*>\Z", re.IGNORECASE)

# Markdown emphasis wrapping the whole text ("**How do I ...?**"), longest marker first.
EMPHASIS_MARKERS = ("***", "**", "*")
# An unpaired leading `**` followed by one of these is code ("**kwargs", "**2"), not stray bold.
CODE_AFTER_STARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
LEADING_BULLET = re.compile(r"\A\*+[ \t]+")

# (opening, closing) double quotes; single quotes are left alone because they double as apostrophes.
QUOTE_PAIRS = (('"', '"'), ("“", "”"))

# Chat roles a template renders as a turn header; a generated instruction that starts with one echoed the
# template instead of writing a query.
ROLE_NAMES = ("system", "user", "assistant", "model")
_ROLES = "|".join(ROLE_NAMES)
# A role name alone on the first line ("assistant\n", "user:\n", "**Assistant:**").
ROLE_HEADER_LINE = re.compile(rf"\A[*_#> \t]*(?:{_ROLES})[*_: \t]*(?:\r?\n|\Z)", re.IGNORECASE)
# The model writing the assistant's turn inline ("Assistant: Sure, ..."); "User: ..." is a label instead.
INLINE_ASSISTANT_TURN = re.compile(r"\A[*_ \t]*assistant[*_ \t]*:", re.IGNORECASE)
# Nothing but a role name and punctuation.
ROLE_HEADER_ONLY = re.compile(rf"\A[\W_]*(?:{_ROLES})[\W_]*\Z", re.IGNORECASE)
