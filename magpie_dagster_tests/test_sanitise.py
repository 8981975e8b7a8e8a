"""The instruction sanitiser: each rule, the reference's bugs we don't copy, and the drop reasons."""

from __future__ import annotations

import pytest

from magpie_dagster.domain.generation.sanitise import SanitisedInstruction, drop_reason, sanitise_instruction
from magpie_dagster.domain.generation.sanitise_rules import RULE_IDS

LABEL = "strip_leading_label"
CUT = "cut_self_answer"
EMPHASIS = "strip_emphasis"
QUOTES = "strip_quotes"
BOLD_TAGS = "strip_bold_tags"

CHATML_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
LLAMA3_TOKENS = ("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>")

RULE_CASES = {
    # strip_leading_label
    "task": ("Task: Write a haiku about rain.", "Write a haiku about rain.", (LABEL,)),
    "question": ("Question: What is a prime number?", "What is a prime number?", (LABEL,)),
    "query": ("query: list three rivers in Spain", "list three rivers in Spain", (LABEL,)),
    "instruction": ("Instruction: Summarise the text below.", "Summarise the text below.", (LABEL,)),
    "user": ("User: How do tides work?", "How do tides work?", (LABEL,)),
    "prompt": ("PROMPT: Describe a sunset.", "Describe a sunset.", (LABEL,)),
    "bold": ("**Question** What is a prime number?", "What is a prime number?", (LABEL,)),
    "bold_colon_inside": ("**Question:** What is a prime number?", "What is a prime number?", (LABEL,)),
    "bold_colon_outside": ("**Question**: What is a prime number?", "What is a prime number?", (LABEL,)),
    "heading": ("## Question:\nWhat is a prime number?", "What is a prime number?", (LABEL,)),
    "heading_alone_on_line": ("### Task\nWrite a haiku.", "Write a haiku.", (LABEL,)),
    "numbered_question": ("Question 3: What is 7 times 8?", "What is 7 times 8?", (LABEL,)),
    "part": ("Part 2: Explain the second law.", "Explain the second law.", (LABEL,)),
    "q_number_dot": ("Q1. What is the capital of Peru?", "What is the capital of Peru?", (LABEL,)),
    "q_colon": ("Q: What is the capital of Peru?", "What is the capital of Peru?", (LABEL,)),
    "label_without_space": ("Question:What is a prime?", "What is a prime?", (LABEL,)),
    "stacked_labels": ("## Task 1\n**Question:** Why is ice slippery?", "Why is ice slippery?", (LABEL,)),
    # cut_self_answer
    "answer": ("What is 7 times 8?\nAnswer: 56", "What is 7 times 8?", (CUT,)),
    "answer_after_sentence": ("What is 7 times 8? Answer: 56", "What is 7 times 8?", (CUT,)),
    "bold_answer": ("What is 7 times 8?\n\n**Answer:** 56", "What is 7 times 8?", (CUT,)),
    "the_answer_is": ("Is 7 a prime? The answer is yes.", "Is 7 a prime?", (CUT,)),
    "explanation": (
        "Why is the sky blue?\nExplanation: Rayleigh scattering.",
        "Why is the sky blue?",
        (CUT,),
    ),
    "solution": ("Solve x + 2 = 5.\nSolution: x = 3.", "Solve x + 2 = 5.", (CUT,)),
    "here_are_some": (
        "What are good sci-fi books? Here are some: Dune, Solaris.",
        "What are good sci-fi books?",
        (CUT,),
    ),
    "step_heading": (
        "Bake a sourdough loaf.\n\n# Step 1: Feed the starter",
        "Bake a sourdough loaf.",
        (CUT,),
    ),
    "step_subheading": (
        "How do I bake sourdough?\n## Step 1\nFeed the starter",
        "How do I bake sourdough?",
        (CUT,),
    ),
    "step_after_question": (
        "How do I bake sourdough?\nStep 1: Feed the starter",
        "How do I bake sourdough?",
        (CUT,),
    ),
    "label_then_answer": ("Question: What is 2+2?\nAnswer: 4", "What is 2+2?", (LABEL, CUT)),
    # strip_emphasis
    "bold_wrapped": ("**How do tides work?**", "How do tides work?", (EMPHASIS,)),
    "italic_wrapped": ("*How do tides work?*", "How do tides work?", (EMPHASIS,)),
    "unpaired_leading_bold": ("**How do tides work?", "How do tides work?", (EMPHASIS,)),
    "unpaired_trailing_bold": ("How do tides work?**", "How do tides work?", (EMPHASIS,)),
    "bullet": ("* How do tides work?", "How do tides work?", (EMPHASIS,)),
    # strip_quotes
    "straight_wrapped": ('"How do tides work?"', "How do tides work?", (QUOTES,)),
    "curly_wrapped": ("“How do tides work?”", "How do tides work?", (QUOTES,)),
    "unpaired_leading_straight": ('"How do tides work?', "How do tides work?", (QUOTES,)),
    "unpaired_leading_curly": ("“How do tides work?", "How do tides work?", (QUOTES,)),
    "unpaired_trailing": ('What does "ciao" mean?"', 'What does "ciao" mean?', (QUOTES,)),
    # strip_bold_tags
    "bold_tags_wrapped": ("<b>How do tides work?</b>", "How do tides work?", (BOLD_TAGS,)),
    "bold_tags_around_label": (
        "<b>Question:</b> How do tides work?",
        "How do tides work?",
        (BOLD_TAGS, LABEL),
    ),
    "stray_open_tag": ("<B>How do tides work?", "How do tides work?", (BOLD_TAGS,)),
    "stray_close_tag": ("How do tides work?</b>", "How do tides work?", (BOLD_TAGS,)),
    # several rules, each recorded once, in the order they first fired
    "quoted_bold_label": ('"**Question:** Why is ice slippery?"', "Why is ice slippery?", (QUOTES, LABEL)),
    "answer_then_wrapping": (
        "**Why is ice slippery?**\n\nAnswer: pressure",
        "Why is ice slippery?",
        (CUT, EMPHASIS),
    ),
    "whitespace_only_is_not_a_rule": ("  \n How do tides work?\n\n ", "How do tides work?", ()),
}

PASS_THROUGH = [
    "What is 3.14 times 2?",
    "Write a C# function that reverses a string.",
    "Explain: why is the sky blue?",
    "How do I use #include in C?",
    "¿Cómo puedo aprender a programar en Python?",
    "如何提高我的英语写作水平？",
    "Объясни, как работает фотосинтез.",
    "2024 was a leap year. Which years are leap years?",
    "# of items in a list: how do I count them in Python?",
    "Here are some numbers, sort them: 5, 3, 9.",
    "Explanation: what does this regex do? ^a+$",
    "Answer: is it better to rent or to buy a house?",
    "Question everything: is that good advice?",
    "Questions about Rust lifetimes: why does this fail to compile?",
    "# Task management in Python: which library?",
    "Q1 revenue grew 5%. Why might that be?",
    "What does the <b> tag do in HTML?",
    "<b> vs <strong>: which should I use?",
    "**kwargs in Python: what does it mean?",
    "What is 5 * 3 * 2?",
    '"Hello" in French is what?',
    "What is the answer: yes or no?",
    "How do prime numbers work, in simple terms? (3fa1c2d9)",
]

USER_CONTENT_AFTER_A_STATEMENT = [
    "Sort these for me. Here are some numbers: 5, 3, 9.",
    "My build fails.\nStep 1: I ran make.\nStep 2: it said 'no rule'. What did I miss?",
    "I got 5. The answer is wrong, where is my mistake?",
]


@pytest.mark.parametrize(("raw", "text", "rules_fired"), RULE_CASES.values(), ids=RULE_CASES.keys())
def test_each_rule(raw, text, rules_fired):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=text, rules_fired=rules_fired)


@pytest.mark.parametrize("raw", PASS_THROUGH)
def test_ordinary_instructions_pass_through_untouched(raw):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=raw, rules_fired=())


@pytest.mark.parametrize("raw", USER_CONTENT_AFTER_A_STATEMENT)
def test_weak_answer_markers_only_cut_after_a_question(raw):
    """Users also write "Here are some", "Step 1:" and "The answer is": after a statement, they stay."""
    assert sanitise_instruction(raw) == SanitisedInstruction(text=raw, rules_fired=())


@pytest.mark.parametrize("raw", [case[0] for case in RULE_CASES.values()] + PASS_THROUGH)
def test_sanitising_is_idempotent(raw):
    once = sanitise_instruction(raw)
    assert sanitise_instruction(once.text) == SanitisedInstruction(text=once.text, rules_fired=())


def test_rule_ids_are_stable():
    """Rule ids are stored with every row and grouped on by analysts: renaming one breaks old queries."""
    assert set(RULE_IDS) >= {LABEL, CUT, EMPHASIS, QUOTES, BOLD_TAGS}
    assert len(RULE_IDS) == len(set(RULE_IDS)) == 11


def test_label_with_nothing_after_leaves_empty_text():
    assert sanitise_instruction("Question:") == SanitisedInstruction(text="", rules_fired=(LABEL,))
    assert sanitise_instruction("**Question:**") == SanitisedInstruction(text="", rules_fired=(EMPHASIS, LABEL))


# The reference sanitiser's bugs (REFERENCE.md section 3): we implement what it meant to do.


def test_regression_plain_answer_colon_is_an_answer_marker():
    """The reference pattern required "Answer::", so a plain "Answer:" never matched."""
    result = sanitise_instruction("What is the boiling point of water?\nAnswer: 100 °C")
    assert result == SanitisedInstruction(text="What is the boiling point of water?", rules_fired=(CUT,))


def test_regression_bold_tag_stripping_keeps_its_result():
    """The reference computed the `<b>`-free text and then returned the original."""
    result = sanitise_instruction("<b>How do I centre a div?</b>")
    assert result == SanitisedInstruction(text="How do I centre a div?", rules_fired=(BOLD_TAGS,))


@pytest.mark.parametrize(
    "raw",
    [
        "3.14 is close to pi; why is pi irrational?",
        "2024: which events shaped the year?",
        "10 ways to save water?",
    ],
)
def test_regression_leading_number_keeps_its_digits(raw):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=raw, rules_fired=())


@pytest.mark.parametrize(
    ("raw", "text", "rules_fired"),
    [
        ("Write a C# function that sorts a list.", "Write a C# function that sorts a list.", ()),
        ("Is F# good for data work? I like C# too.", "Is F# good for data work? I like C# too.", ()),
        ("## Question: How do I read a file in F#?", "How do I read a file in F#?", (LABEL,)),
        ("How do I use #include guards in C?", "How do I use #include guards in C?", ()),
        ("What does # of items mean in a form?", "What does # of items mean in a form?", ()),
    ],
)
def test_regression_hash_is_only_markdown_at_a_line_start(raw, text, rules_fired):
    """The reference cut "C#" at the '#'; a heading label is stripped, a '#' inside text is content."""
    assert sanitise_instruction(raw) == SanitisedInstruction(text=text, rules_fired=rules_fired)


# drop_reason


def _reason(raw, finish_reason="stop", special_tokens=()):
    return drop_reason(raw, sanitise_instruction(raw), finish_reason, special_tokens)


def test_usable_instruction_has_no_drop_reason():
    assert _reason("How do tides work?", special_tokens=CHATML_TOKENS) is None


def test_label_user_is_not_a_template_echo():
    assert _reason("User: How do tides work?") is None


def test_truncated_when_the_model_hit_max_tokens():
    assert _reason("Write a long story about a lighthouse keeper who", finish_reason="length") == "truncated"


@pytest.mark.parametrize("raw", ["", "   \n ", "?!", "**Question:**", "***", "<b></b>"])
def test_empty_when_nothing_usable_is_left(raw):
    assert _reason(raw) == "empty"


@pytest.mark.parametrize(
    ("raw", "special_tokens"),
    [
        ("How do tides work?<|im_end|>\n<|im_start|>assistant", CHATML_TOKENS),
        ("How do tides work?<|eot_id|>", LLAMA3_TOKENS),
        ("assistant\n\nSure, here is an answer.", ()),
        ("user\nHow do tides work?", ()),
        ("system\nYou are a helpful assistant.", ()),
        ("model\nThe tides are caused by the moon.", ()),
        ("Assistant: Sure, tides are caused by the moon.", ()),
        ("**Assistant:**\nSure.", ()),
        ("assistant", ()),
        ('"user"', ()),
    ],
)
def test_template_echo(raw, special_tokens):
    assert _reason(raw, special_tokens=special_tokens) == "template_echo"


def test_empty_special_token_is_ignored():
    assert _reason("How do tides work?", special_tokens=("",)) is None


def test_role_echo_is_detected_not_silently_stripped():
    raw = "assistant\nHow do tides work?"
    assert sanitise_instruction(raw).text == raw
    assert _reason(raw) == "template_echo"


def test_priority_truncated_before_template_echo():
    assert _reason("assistant\nSure, here is a long", "length") == "truncated"


def test_priority_truncated_before_empty():
    assert _reason("", "length") == "truncated"


def test_priority_template_echo_before_empty():
    assert _reason("<|im_start|>", special_tokens=CHATML_TOKENS) == "template_echo"
    assert _reason("user") == "template_echo"
