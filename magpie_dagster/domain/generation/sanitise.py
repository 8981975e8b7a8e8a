"""Cleaning of generated instructions, and the reason an instruction is unusable.

Models sampled from a pre-query template often decorate their query ("**Question:** ...") or go on to answer
it themselves. The sanitiser removes that, records which rules fired (stored with every row, so their effect
can be audited), and never drops a row itself: `drop_reason` names what is wrong, the raw data keeps the row,
and curation drops it later. The rules are the same for every chat family; their patterns live in
`sanitise_rules`, and the rules that read the text's structure (lists, code blocks, follow-on answers) in
`sanitise_structure`. The table of behaviours in docs/generation.md is tested row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from magpie_dagster.domain.generation import sanitise_rules as rules
from magpie_dagster.domain.generation import sanitise_structure as structure
from magpie_dagster.domain.repetition import instruction_loops

DropReason = Literal["looping", "truncated", "template_echo", "empty"]
DROP_REASONS: tuple[str, ...] = get_args(DropReason)

# Rules can uncover one another ('"**Question:** ...?"' needs quotes, then emphasis, then the label), so they
# run in passes until nothing changes; a handful of passes is more than any real output needs.
_MAX_PASSES = 6


@dataclass(frozen=True)
class SanitisedInstruction:
    text: str
    """The cleaned instruction; "" when nothing is left."""
    rules_fired: tuple[str, ...]
    """Stable rule ids (see `sanitise_rules.RULE_IDS`), each once, in the order they first fired."""


def sanitise_instruction(raw: str) -> SanitisedInstruction:
    """Strips labels, self-answers and stray markup from an instruction, recording which rules fired."""
    text = raw.strip()
    fired: list[str] = []
    for _ in range(_MAX_PASSES):
        changed = False
        for rule_id, rule in _RULES:
            cleaned = rule(text).strip()
            if cleaned != text:
                text, changed = cleaned, True
                if rule_id not in fired:
                    fired.append(rule_id)
        if not changed:
            break
    return SanitisedInstruction(text=text, rules_fired=tuple(fired))


def drop_reason(
    raw: str, sanitised: SanitisedInstruction, finish_reason: str, special_tokens: Sequence[str] = ()
) -> DropReason | None:
    """Why a generated instruction is unusable (kept in raw data with this reason, dropped later), or None.

    One reason per row, by priority: "looping" first (the same unit repeated, as responses are checked: it
    usually runs into max_tokens too, and the fix is a repetition penalty, not a larger max_tokens), "truncated"
    (a cut-off text is unusable whatever it contains, and the fix is a larger max_tokens), then "template_echo"
    (the model reproduced the chat template, a sign of a wrong pre-query template worth counting even when the
    echo leaves nothing), then "empty".
    """
    if instruction_loops(sanitised.text):
        return "looping"
    if finish_reason == "length":
        return "truncated"
    if is_template_echo(raw, sanitised.text, special_tokens):
        return "template_echo"
    if not any(character.isalnum() for character in sanitised.text):
        return "empty"
    return None


def is_template_echo(raw: str, text: str, special_tokens: Sequence[str] = ()) -> bool:
    """True when the output echoes the chat template: a special token, or a role header instead of a query.

    The sanitiser does not strip a role echo: a model that writes "assistant\\n..." is answering, not asking,
    so what follows is not a usable instruction.
    """
    if any(token and token in raw for token in special_tokens):
        return True
    head = raw.lstrip()
    return bool(
        rules.ROLE_HEADER_LINE.match(head)
        or rules.INLINE_ASSISTANT_TURN.match(head)
        or rules.ROLE_HEADER_ONLY.match(text)
    )


def strip_bold_tags(text: str) -> str:
    """Removes a `<b>...</b>` pair opening the text, a stray `<b>` opener or a stray trailing `</b>`.

    Tags inside the query ("What does the <b> tag do?") are content, and a `<b>` followed by a space
    ("<b> vs <strong>") is being talked about, not used.
    """
    opener = rules.OPEN_BOLD_TAG.match(text)
    if opener:
        rest = text[opener.end() :]
        closer = rules.CLOSE_BOLD_TAG.search(rest)
        if closer:
            return rest[: closer.start()] + rest[closer.end() :]
        if rest[:1] and not rest[:1].isspace():
            return rest
    trailing = rules.TRAILING_CLOSE_BOLD_TAG.search(text)
    if trailing and not rules.ANY_OPEN_BOLD_TAG.search(text):
        return text[: trailing.start()]
    return text


def strip_leading_label(text: str) -> str:
    """Removes one label such as "Question:", "**Task**", "## Question 3:" or "Q1." before the query."""
    match = rules.LEADING_LABEL.match(text)
    if not match:
        return text
    separator = match["inner_sep"] or match["outer_sep"]
    opener, closer = match["open"], match["close"]
    if match["emphatic"] and not (opener and opener == closer and text[match.end() : match.end() + 1].isupper()):
        return text  # "**Important** information for ..." goes on from the word: it is not a label
    if separator in (".", ")") and not match["numbered"]:
        return text
    if closer and opener != closer:
        return text
    if opener and not closer and not match["inner_sep"]:
        return text
    wrapped_in_bold = bool(opener) and opener == closer
    heading_alone_on_line = bool(match["heading"]) and ("\n" in match["gap"] or match.end() == len(text))
    if separator or wrapped_in_bold or heading_alone_on_line:
        return text[match.end() :]
    return text


def cut_self_answer(text: str) -> str:
    """Cuts the text where the model starts answering its own query, keeping the query."""
    cut_at = None
    for marker, pattern in rules.ANSWER_MARKER_PATTERNS:
        for match in pattern.finditer(text):
            if cut_at is not None and match.start() >= cut_at:
                break
            if _starts_an_answer(text[: match.start()], text[match.start() :], marker):
                cut_at = match.start()
                break
    return text if cut_at is None else text[:cut_at]


def _starts_an_answer(before: str, after: str, marker: rules.AnswerMarker) -> bool:
    if not any(character.isalnum() for character in before):
        return False  # the marker is the instruction's first word: "Explanation: ..." is a query
    if not marker.after_question_only:
        return True
    if before.rstrip(rules.CLOSING_DECORATION).endswith(rules.QUESTION_MARKS):
        return True
    return (
        marker.after_a_request
        and not any(mark in after for mark in rules.QUESTION_MARKS)  # "The answer is 4, right?" is the asker's
        and not rules.ASKER_CONTINUES.match(before)  # "I have sales data. Here are some figures: ..." is theirs
        and not rules.POINTS_AHEAD.search(before)  # "Sort these for me. Here are some numbers: ..." too
        and not structure.refers_to_material(before)
        and not structure.ends_with_colon(before)
    )


def strip_emphasis(text: str) -> str:
    """Removes markdown emphasis wrapping the whole text, a leading bullet, or an unpaired `**` at either end.

    A single unpaired `*` is left alone: it is as likely to be "*args" or "5 * 3" as stray markup, and so is
    a leading `**` directly followed by code ("**kwargs").
    """
    for marker in rules.EMPHASIS_MARKERS:
        inner = text[len(marker) : -len(marker)]
        if (
            len(text) > 2 * len(marker)
            and text.startswith(marker)
            and text.endswith(marker)
            and marker not in inner
            and inner == inner.strip()
        ):
            return inner
    bullet = rules.LEADING_BULLET.match(text)
    if bullet:
        return text[bullet.end() :]
    if text.count("**") == 1:
        if text.startswith("**") and text.lstrip("*")[:1] not in rules.CODE_AFTER_STARS:
            return text.lstrip("*")
        if text.endswith("**"):
            return text.rstrip("*")
    return text


def strip_emphasised_first_words(text: str) -> str:
    """Unwraps emphasis on the first words ("**Help me** plan a trip"), once labels had their chance."""
    first_words = rules.EMPHASISED_FIRST_WORDS.match(text)
    return first_words["words"] + text[first_words.end() :] if first_words else text


def strip_emphasised_words(text: str) -> str:
    """Unwraps bold markup around words anywhere ("Please ***carefully*** review ..."). Left alone: text with code
    (a backtick), where `**` is an operator, and text about Markdown, where the markup is the subject."""
    if "`" in text or "markdown" in text.lower():
        return text
    return rules.EMPHASISED_WORDS.sub(lambda match: match[0] if _kept_as_written(text, match) else match["words"], text)


def _kept_as_written(text: str, match) -> bool:
    """A bold line of its own is a title the user wrote ("**My Trip to Japan**\n..."), and a bold label
    ("**Question:**", "**Note**:") is the label rules' to judge: neither is stray markup."""
    if match["words"].endswith((":", "：")) or text[match.end() : match.end() + 1] in (":", "："):
        return True
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = text.find("\n", match.end())
    line = text[line_start : len(text) if line_end < 0 else line_end]
    return line.strip() == match[0]


def strip_quotes(text: str) -> str:
    """Removes double quotes wrapping the whole text, or a quote at either end that nothing pairs with."""
    for opening, closing in rules.QUOTE_PAIRS:
        inner = text[1:-1]
        wrapped = len(text) >= 2 and text[0] == opening and text[-1] == closing
        if wrapped and opening not in inner and closing not in inner:
            return inner
        if text.startswith(opening) and _unpaired(text, opening, closing, at_start=True):
            return text[1:]
        if text.endswith(closing) and _unpaired(text, opening, closing, at_start=False):
            return text[:-1]
    return text


def _unpaired(text: str, opening: str, closing: str, *, at_start: bool) -> bool:
    if opening == closing:
        return text.count(opening) % 2 == 1
    if at_start:
        return text.count(opening) > text.count(closing)
    return text.count(closing) > text.count(opening)


_RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    (rules.STRIP_BOLD_TAGS, strip_bold_tags),
    (rules.STRIP_QUOTES, strip_quotes),
    (rules.STRIP_EMPHASIS, strip_emphasis),
    (rules.STRIP_LEADING_LABEL, strip_leading_label),
    (rules.CUT_SELF_ANSWER, cut_self_answer),
    (rules.STRIP_EMPHASIS, strip_emphasised_first_words),
    (rules.STRIP_EMPHASIS, strip_emphasised_words),
    (rules.KEEP_FIRST_LISTED_QUESTION, structure.keep_first_listed_question),
    (rules.STRIP_ENUMERATION, structure.strip_enumeration),
    (rules.STRIP_LEADING_YEAR, structure.strip_leading_year),
    (rules.KEEP_WRAPPED_INSTRUCTION, structure.keep_wrapped_instruction),
    (rules.KEEP_WRAPPED_INSTRUCTION, structure.keep_quoted_question),
    (rules.CUT_CODE_ANSWER, structure.cut_code_answer),
    (rules.CUT_APPENDED_ANSWER, structure.cut_appended_answer),
    (rules.CUT_APPENDED_ANSWER, structure.cut_appended_section),
)
