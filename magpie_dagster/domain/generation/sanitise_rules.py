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
STRIP_ENUMERATION = "strip_enumeration"
KEEP_FIRST_LISTED_QUESTION = "keep_first_listed_question"
STRIP_LEADING_YEAR = "strip_leading_year"
KEEP_WRAPPED_INSTRUCTION = "keep_wrapped_instruction"
CUT_CODE_ANSWER = "cut_code_answer"
CUT_APPENDED_ANSWER = "cut_appended_answer"

RULE_IDS = (
    STRIP_BOLD_TAGS,
    STRIP_LEADING_LABEL,
    CUT_SELF_ANSWER,
    STRIP_EMPHASIS,
    STRIP_QUOTES,
    STRIP_ENUMERATION,
    KEEP_FIRST_LISTED_QUESTION,
    STRIP_LEADING_YEAR,
    KEEP_WRAPPED_INSTRUCTION,
    CUT_CODE_ANSWER,
    CUT_APPENDED_ANSWER,
)

# A label the model wrote before its query ("Question:", "**Task**", "## Question 3:", "Q1.", "***Important***"). The
# match is only accepted when the label is clearly one (a separator, bold wrapping, or a heading alone on its line):
# that check lives in sanitise.py, so "Question everything" or "# Task management" keep their first word.
LEADING_LABEL = re.compile(
    r"""
    \A
    (?P<heading>\#{1,6}[ \t]*)?
    (?P<open>\*{1,3}|__)?
    [ \t]*
    (?:
        (?P<numbered>(?:question|part|problem|task|exercise|q)[ \t]*\#?[ \t]*\d+)
      | (?P<plain>original[ \t]+prompt|user[ \t]+(?:question|query|request)
          |(?:the[ \t]+)?(?:scenario|senario|scenerio|situation|problem(?:[ \t]+statement)?)
          |context|background|descriptions?|discription|challenge
          |task|question|query|instructions?|user|prompt|request|q)
      | (?P<emphatic>important|warning|urgent)  # a label only in bold: "Important: my flight is ..." is the user's
    )
    [ \t]*
    (?P<inner_sep>[:：]|[.)](?=[\s*_]|\Z))?
    [ \t]*
    (?P<close>\*{1,3}|__)?
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
    ..."): they only count as the model answering when they follow a question mark, or, with
    `after_a_request`, any sentence of a request (not the asker's first person) that points at no material, when
    nothing after them asks ("Add the numbers from 1 to 100. The answer is 5050.").
    """

    name: str
    pattern: str
    after_question_only: bool
    after_a_request: bool = False


# A marker counts only at the start of a segment: a new line, or after sentence-ending punctuation; never as
# the first words of the instruction ("Explanation: ..." alone is left as it is).
SEGMENT_START = r"(?:^[ \t]*|(?<=[.?!。？！])[ \t]+)"
# Markdown a model puts around a label: a heading, a quote bar, bold.
MARKER_DECORATION = r"(?:\#{1,6}[ \t]*)?(?:>[ \t]*)?(?:\*{1,2}|__)?[ \t]*"
_LABEL_COLON = r"[ \t]*(?:\*{1,2}|__)?[ \t]*:"

# "Answer:" in the languages Magpie models most often write: Spanish, Portuguese, Italian, French, German, Dutch,
# Russian, Polish, Turkish, Indonesian, Chinese, Japanese, Korean. Strong markers: they cut after any sentence.
_FOREIGN_ANSWER_WORDS = (
    r"(?:Respuesta|Resposta|Risposta|Réponse|Antwort|Antwoord|Ответ|Odpowiedź|Cevap|Jawaban"
    r"|Solución|Solução|Soluzione|Lösung|Решение|Explicación|Explicação|Erklärung|Объяснение"
    r"|答案|回答|解答|解析|答え|정답|답변)"
)
_FULLWIDTH_OR_ASCII_COLON = r"[ \t]*(?:\*{1,2}|__)?[ \t]*[:：]"

ANSWER_MARKERS = (
    AnswerMarker("Answer:", r"(?:(?:Final|Correct|Short)[ \t]+)?[Aa]nswers?" + _LABEL_COLON, False),
    AnswerMarker("Respuesta:", _FOREIGN_ANSWER_WORDS + _FULLWIDTH_OR_ASCII_COLON, False),
    AnswerMarker("Explanation:", r"Explanation" + _LABEL_COLON, False),
    AnswerMarker("Solution:", r"Solution(?:[ \t]+Approach)?" + _LABEL_COLON, False),
    AnswerMarker("# Step 1", r"\#{1,6}[ \t]*(?:\*{1,2})?Step[ \t]*1\b", False),
    AnswerMarker("The answer is", r"The[ \t]+(?:correct[ \t]+|final[ \t]+)?answer[ \t]+is\b", True, True),
    AnswerMarker("Here are some", r"Here[ \t]+are[ \t]+some\b", True, True),
    AnswerMarker("Step 1:", r"Step[ \t]*1[ \t]*(?:\*{1,2})?[ \t]*[:.)]", True),
)

ANSWER_MARKER_PATTERNS = tuple(
    (marker, re.compile(SEGMENT_START + MARKER_DECORATION + marker.pattern, re.MULTILINE)) for marker in ANSWER_MARKERS
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

# A leading enumeration marker: "1. ", "2) ", "(3) ", "a) ", "(b) ", "C. " (a letter and a dot only before a
# capital, so "E. coli" and initials such as "J. R. R. Tolkien" stay). "3.14" and "10 ways" have no marker.
LEADING_ENUMERATION = re.compile(
    r"\A(?:\(?\d{1,2}[.)]|\(?[a-hA-H]\)|\([a-hA-H]\)|[A-H]\.(?=[ \t]+[A-Z](?![a-z]*\.)))[ \t]+(?=\S)"
)
# The start of a numbered item on its own line, for a list of several questions.
NUMBERED_ITEM_LINE = re.compile(r"^[ \t]*\(?(\d{1,2})[.)][ \t]+\S", re.MULTILINE)

# A year alone on the first line ("2023", "**2023**", "(2023)"), bracketed before the text ("[2023] ..."), or
# ending a sentence of its own before a capital ("2024. What ...").
LEADING_YEAR = re.compile(
    r"\A(?:[*_#( \t]*(?:19|20)\d{2}[*_) \t.:]*\r?\n\s*|[\[(](?:19|20)\d{2}[\])][ \t]*(?=\S)"
    r"|(?:19|20)\d{2}\.[ \t]+(?=[A-Z¿¡\"“]))"
)

# A first line wrapped in quotes or emphasis, a sentence of three words or more, followed by more text: the
# wrapped line is the instruction and what follows is narrative about it or its answer.
WRAPPED_FIRST_LINE = re.compile(
    r"\A(?P<open>\*{1,3}|__|\"|“)"
    r"(?P<inner>[^\n*_\"“”]*?\S[ \t]+\S[^\n*_\"“”]*?[ \t]+[^\n*_\"“”]*[?.!？。！])"
    r"(?P<close>\*{1,3}|__|\"|”)[ \t]*\n\s*\S"
)
WRAP_PAIRS = {"*": "*", "**": "**", "***": "***", "__": "__", '"': '"', "“": "”"}
# A question in quotes that a narrative goes on from, on the same line ('"Can you help me?" asked my friend, ...',
# '"Why is the sky blue?" she wondered.'): the quoted question is the instruction.
QUOTED_QUESTION_IN_NARRATIVE = re.compile(
    r"\A(?P<open>[\"“])(?P<inner>[^\"“”\n]*\w[^\"“”\n]*[?？])(?P<close>[\"”])[ \t]*,?[ \t]*"
    r"(?P<narrative>(?:asked|asks|said|says|wondered|wonders|whispered|inquired|exclaimed|wrote|writes|replied|"
    r"(?:my|his|her|their|the|a|an|he|she|they|i|we)[ \t]+[\w' \t]{0,40}?"
    r"(?:asked|asks|said|says|wondered|wonders|wanted[ \t]+to[ \t]+know|inquired|wrote|writes))\b)",
    re.IGNORECASE,
)

# Bold or bold-italic markup around words inside the text ("Please ***carefully*** review ..."): a pair of the same
# marker, touching its words, not inside a word ("a**2 + b**2" is arithmetic). Single `*` and `__` stay: "*args",
# "5 * 3 * 2" and "__init__" are code.
EMPHASISED_WORDS = re.compile(r"(?<![\w*])(?P<marker>\*{2,3})(?P<words>[^\s*](?:[^*\n]*?[^\s*])?)(?P=marker)(?![\w*])")
# Emphasis on the first words only ("**Help me** plan a trip"); a leading "**kwargs ... **" is not a pair.
EMPHASISED_FIRST_WORDS = re.compile(
    r"\A(?P<marker>\*\*|__)(?P<words>[^\W\d_][^*_\n]{0,60}?[^\s*_:：])(?P=marker)(?=[ \t,.:;!?])"
)

# Opens a fenced code block on its own line.
CODE_FENCE_LINE = re.compile(r"^[ \t]*```", re.MULTILINE)
# A request for new code, which a following code block answers ...
ASKS_FOR_CODE = re.compile(
    r"\b(?:write|create|implement|generate|build|make|develop|design|give[ \t]+me|show[ \t]+me|provide"
    r"|how[ \t]+(?:do|can|would|should)[ \t]+(?:i|you|we|one))\b",
    re.IGNORECASE,
)
# ... unless the code is what the request is about.
ASKS_ABOUT_CODE = re.compile(
    r"\b(?:fix|debug|wrong|errors?|fails?|failing|bugs?|review|refactor|optimi[sz]e|improve|convert|translate"
    r"|port|explain|what[ \t]+does|why[ \t]+does|output[ \t]+of|rewrite|simplify|comment)\b",
    re.IGNORECASE,
)

# Words by which an instruction points at material it provides ("the following text", "this code", "below",
# "my essay:"): whatever comes after is part of the instruction, not an answer. "this"/"my" alone are not enough
# ("How can I improve my sleep?"): they count before a noun that names material, with at most one word between.
_MATERIAL_NOUNS = (
    r"(?:text|code|passage|paragraph|sentences?|essay|article|email|e-mail|letter|list|data|dataset|table|function"
    r"|snippet|program|script|class|query|equation|excerpt|examples?|errors?|logs?|output|json|csv|sql|poem|story"
    r"|review|message|document|draft|statement|quote|lyrics|summary|abstract|report|speech|recipe|résumé|resume"
    r"|cover[ \t]+letter|translation|bug|stack[ \t]*trace|regex|file|configuration|config|numbers|words)"
)
REFERS_TO_MATERIAL = re.compile(
    r"\b(?:following|below|attached|provided|given|here(?:'s|[ \t]+is|[ \t]+are))\b"
    rf"|\b(?:this|these|that|those|my|our)[ \t]+(?:[\w-]+[ \t]+)?{_MATERIAL_NOUNS}\b"
    r"|siguiente|folgende|suivant|seguinte|seguente|следующ|以下|下面|下列|次の",
    re.IGNORECASE,
)

# A markdown heading that opens a section of a response ("# Analysis", "## Revised version"): after the user's
# request and material, it starts the model's own answer (the cut needs it to be the text's first heading, so a
# user's pasted report with "# Introduction ... # Analysis" keeps its sections).
ANY_HEADING_LINE = re.compile(r"^[ \t]*\#{1,6}[ \t]", re.MULTILINE)
RESPONSE_SECTION_HEADING = re.compile(
    r"^[ \t]*\#{1,6}[ \t]*(?:\*{1,2}|__)?[ \t]*"
    r"(?:analysis|answers?|solutions?|response|explanation|feedback|evaluation|assessment|suggestions"
    r"|recommendations|output|results?|summary|conclusions?|breakdown|critique|corrections?|translation"
    r"|(?:corrected|revised|improved|rewritten|edited|final)[ \t]+(?:version|text|code|draft)|my[ \t]+(?:answer|take))"
    r"\b[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
# A request that points ahead at what the asker gives next ("Sort these for me.", "Check them."), without a noun.
POINTS_AHEAD = re.compile(r"\b(?:these|those|them|this|it)\b(?=[^.?!]*[.!]?\s*\Z)", re.IGNORECASE)
# Where one part of an instruction may end and an appended answer begin: after a line ending in a question
# mark, or at a blank line.
QUESTION_LINE_END = re.compile(r"[?？][*_\"”')\]]*[ \t]*$", re.MULTILINE)
BLANK_LINE = re.compile(r"\n[ \t]*\n")

# How the asker, not the model, goes on after a question: first person, a request, more context.
ASKER_CONTINUES = re.compile(
    r"\A[*_ \t]*(?:Here(?:'s|[ \t]+is|[ \t]+are)[ \t]+(?:my|our)"
    r"|I|I'm|I've|I'd|I'll|Im|My|Me|We|We're|We've|Our|Us|Please|Pls|Thanks|Thank[ \t]+you|Also|Bonus"
    r"|Note|P\.?S\.?|For[ \t]+context|Context|Background|Details|Edit|Update|Ich|Mein|Meine|Wir|Bitte|Je|J'|Mon|Ma"
    r"|Mes|Nous|Merci|Yo|Mi|Mis|Tengo|Gracias|Eu|Meu|Minha|Obrigad[oa]|Io|Grazie|Я|Мой|Моя|Мы|Спасибо)\b",
)

# Answer choices the asker gives after a question ("A) Mars", "(b) 4"): part of the question.
ANSWER_CHOICES = re.compile(r"\A[ \t]*(?:\(?[A-Da-d]\)|[A-D]\.)[ \t]+\S")
# How the model starts answering: a list, a heading, a courtesy opener ("Sure", "Here are ..."), a table.
ANSWER_OPENER = re.compile(
    r"\A[ \t]*(?:(?:\d{1,2}[.)]|[-•*])[ \t]+\S|\#{1,6}[ \t]|\|"
    r"|(?:Sure|Certainly|Of[ \t]+course|Absolutely|Great[ \t]+question|Here(?:'s|[ \t]+is|[ \t]+are)"
    r"|Claro|Por[ \t]+supuesto|Bien[ \t]+sûr|Certo|Natürlich|Gerne|Конечно|当然|好的)\b)",
    re.IGNORECASE,
)
