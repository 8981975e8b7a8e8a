"""Sanitiser rules that read an instruction's structure: lists, wrapped first lines, code blocks, follow-on text.

They decide where the user's request ends and the model's own continuation (an answer, a second question,
narrative about the request) begins. Where the reference post-processing cuts at the first "?" or newline, these
keep material the instruction points at ("the following text:", "this code", a line ending with a colon).
"""

from __future__ import annotations

from magpie_dagster.domain.generation import sanitise_rules as rules


def strip_enumeration(text: str) -> str:
    """Removes a leading "1. ", "2) ", "(a) " or "B. " that numbers the instruction as one of a list."""
    marker = rules.LEADING_ENUMERATION.match(text)
    return text[marker.end() :] if marker else text


def keep_first_listed_question(text: str) -> str:
    """Of a numbered list of questions ("1. ...\\n2. ..."), keeps the first, as the reference does."""
    items = list(rules.NUMBERED_ITEM_LINE.finditer(text))
    if len(items) < 2 or items[0].start() != 0 or int(items[1][1]) != int(items[0][1]) + 1:
        return text
    return text[: items[1].start()]


def strip_leading_year(text: str) -> str:
    """Removes a year alone on the first line ("2023\\n...") or bracketed before the text ("[2023] ...")."""
    year = rules.LEADING_YEAR.match(text)
    if year and any(character.isalnum() for character in text[year.end() :]):
        return text[year.end() :]
    return text


def keep_wrapped_instruction(text: str) -> str:
    """Keeps a quoted or emphasised first-line instruction, dropping the narrative or answer after it."""
    wrapped = rules.WRAPPED_FIRST_LINE.match(text)
    if not wrapped or rules.WRAP_PAIRS[wrapped["open"]] != wrapped["close"]:
        return text
    if refers_to_material(wrapped["inner"]):
        return text
    return wrapped["inner"]


def keep_quoted_question(text: str) -> str:
    """Keeps a quoted question that narrative goes on from ('"Can you ...?" asked my friend, ...'), unless more is
    asked after it (then the quote is context for the asker's own question)."""
    quoted = rules.QUOTED_QUESTION_IN_NARRATIVE.match(text)
    if not quoted or rules.WRAP_PAIRS[quoted["open"]] != quoted["close"]:
        return text
    if any(mark in text[quoted.end() :] for mark in rules.QUESTION_MARKS):
        return text
    return quoted["inner"]


def cut_code_answer(text: str) -> str:
    """Cuts a code block that starts answering a request for new code ("Write a function ...\\n```python")."""
    fence = rules.CODE_FENCE_LINE.search(text)
    if not fence:
        return text
    request = text[: fence.start()]
    if (
        not any(character.isalnum() for character in request)
        or ends_with_colon(request)
        or refers_to_material(request)
        or not rules.ASKS_FOR_CODE.search(request)
        or rules.ASKS_ABOUT_CODE.search(request)
    ):
        return text
    return request


def cut_appended_answer(text: str) -> str:
    """Cuts what the model appended after its instruction: an answer, a worked solution, a list of suggestions.

    Candidate ends are a line ending in "?" and a blank line. At each, the instruction is kept whole when it
    points at material it provides; what follows is the asker's when it is written in the first person, asks a
    further question or lists answer choices. Otherwise it is the model's answer when the instruction asked a
    question, or when it opens like an answer (a list, a heading, "Sure", "Here are").
    """
    for end in _candidate_ends(text):
        request, rest = text[:end], text[end:].strip()
        if not rest:
            return text
        if ends_with_colon(request) or refers_to_material(request):
            return text
        first_line = rest.split("\n", 1)[0]
        if (
            rules.ASKER_CONTINUES.match(rest)
            or rules.ANSWER_CHOICES.match(rest)
            or rules.QUESTION_LINE_END.search(first_line)
        ):
            continue
        asked_a_question = bool(rules.QUESTION_LINE_END.search(request.rstrip().rsplit("\n", 1)[-1]))
        if asked_a_question or rules.ANSWER_OPENER.match(rest):
            return request
    return text


def cut_appended_section(text: str) -> str:
    """Cuts a section the model appended under a heading of its own ("# Analysis" after the user's data), even
    after material: the heading names part of an answer and is the text's first heading."""
    heading = rules.RESPONSE_SECTION_HEADING.search(text)
    if not heading or not any(character.isalnum() for character in text[: heading.start()]):
        return text
    if rules.ANY_HEADING_LINE.search(text, 0, heading.start()):
        return text
    return text[: heading.start()]


def refers_to_material(request: str) -> bool:
    return bool(rules.REFERS_TO_MATERIAL.search(request))


def ends_with_colon(request: str) -> bool:
    return request.rstrip().rstrip("*_").endswith((":", "："))


def _candidate_ends(text: str) -> list[int]:
    ends = {match.end() for match in rules.QUESTION_LINE_END.finditer(text)}
    ends |= {match.start() for match in rules.BLANK_LINE.finditer(text)}
    return sorted(ends)
