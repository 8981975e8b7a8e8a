"""Sanitiser rules that find where the request ends: realistic outputs per rule, and the near misses that stay."""

from __future__ import annotations

import pytest

from magpie_dagster.domain.generation.sanitise import SanitisedInstruction, sanitise_instruction

LABEL = "strip_leading_label"
CUT = "cut_self_answer"
EMPHASIS = "strip_emphasis"
QUOTES = "strip_quotes"
ENUMERATION = "strip_enumeration"
FIRST_LISTED = "keep_first_listed_question"
YEAR = "strip_leading_year"
WRAPPED = "keep_wrapped_instruction"
CODE = "cut_code_answer"
APPENDED = "cut_appended_answer"

CASES = {
    # cut_appended_answer: an answer after the question, on the next line or after a blank line
    "worked_solution": (
        "A train travels 120 km in 2 hours. What is its average speed?\n\n"
        "To find the average speed, divide the distance by the time: 120 / 2 = 60 km/h.",
        "A train travels 120 km in 2 hours. What is its average speed?",
        (APPENDED,),
    ),
    "suggestions_list": (
        "What are some ways to reduce stress at work?\n1. Take short breaks\n2. Prioritise tasks",
        "What are some ways to reduce stress at work?",
        (APPENDED,),
    ),
    "explanation_next_line": (
        "Why do cats purr?\nCats purr to communicate contentment, and also when they are stressed.",
        "Why do cats purr?",
        (APPENDED,),
    ),
    "spanish_answer": (
        "¿Cuál es la capital de Australia?\nLa capital de Australia es Canberra, no Sídney.",
        "¿Cuál es la capital de Australia?",
        (APPENDED,),
    ),
    "chinese_answer": (
        "如何提高英语口语水平？\n\n提高口语的方法有很多，比如每天练习跟读。",
        "如何提高英语口语水平？",
        (APPENDED,),
    ),
    "imperative_then_sure": (
        "Give me three tips for a job interview.\n\nSure! Here are three tips: research the company, ...",
        "Give me three tips for a job interview.",
        (APPENDED,),
    ),
    "imperative_then_list": (
        "Suggest names for a bakery.\n\n- Rise & Shine\n- The Daily Crumb",
        "Suggest names for a bakery.",
        (APPENDED,),
    ),
    "context_then_question_then_answer": (
        "I'm visiting Lisbon in May.\n\nWhat should I see there?\nThe Belém Tower and the Alfama district.",
        "I'm visiting Lisbon in May.\n\nWhat should I see there?",
        (APPENDED,),
    ),
    # cut_self_answer: "Answer:"-style markers, also in other languages
    "respuesta": ("¿Cuánto es 7 por 8?\nRespuesta: 56", "¿Cuánto es 7 por 8?", (CUT,)),
    "reponse": (
        "Quelle est la capitale du Canada ?\n**Réponse :** Ottawa",
        "Quelle est la capitale du Canada ?",
        (CUT,),
    ),
    "antwort": ("Wie viele Beine hat eine Spinne?\nAntwort: acht", "Wie viele Beine hat eine Spinne?", (CUT,)),
    "otvet": ("Сколько будет 2 + 2?\nОтвет: 4", "Сколько будет 2 + 2?", (CUT,)),
    "daan_fullwidth_colon": ("一年有多少天？\n答案：365天", "一年有多少天？", (CUT,)),
    "loesung_after_statement": ("Berechne 12 mal 12. Lösung: 144", "Berechne 12 mal 12.", (CUT,)),
    # keep_wrapped_instruction: a quoted or emphasised instruction followed by narrative or its answer
    "quoted_then_narrative": (
        '"How can I make my small apartment feel bigger?"\n\nThis question comes from someone who recently moved.',
        "How can I make my small apartment feel bigger?",
        (WRAPPED,),
    ),
    "curly_quoted_then_narrative": (
        "“Write a limerick about a forgetful wizard.”\nThe user wants a funny poem.",
        "Write a limerick about a forgetful wizard.",
        (WRAPPED,),
    ),
    "bold_then_answer": (
        "**Write a haiku about the first snow.**\n\nWhite hush on the roofs / ...",
        "Write a haiku about the first snow.",
        (WRAPPED,),
    ),
    "italic_question_then_answer_german": (
        "*Was ist der Unterschied zwischen Wetter und Klima?*\nWetter beschreibt den kurzfristigen Zustand.",
        "Was ist der Unterschied zwischen Wetter und Klima?",
        (WRAPPED,),
    ),
    # cut_code_answer: a code block that starts answering a request for new code
    "write_function_then_code": (
        "Write a Python function that checks whether a string is a palindrome.\n\n```python\ndef is_pal(s):\n"
        "    return s == s[::-1]\n```",
        "Write a Python function that checks whether a string is a palindrome.",
        (CODE,),
    ),
    "how_do_i_then_code": (
        "How do I read a CSV file in pandas?\n```python\nimport pandas as pd\npd.read_csv('x.csv')\n```",
        "How do I read a CSV file in pandas?",
        (CODE,),
    ),
    "crea_funcion_then_code": (
        "Crea una función en JavaScript que sume dos números. Make it short.\n```js\nconst add = (a, b) => a + b;\n```",
        "Crea una función en JavaScript que sume dos números. Make it short.",
        (CODE,),
    ),
    # strip_enumeration: a leading number or letter marker, also before a label
    "number_dot": (
        "1. What is the tallest mountain in Africa?",
        "What is the tallest mountain in Africa?",
        (ENUMERATION,),
    ),
    "number_paren": (
        "3) Explain how vaccines train the immune system.",
        "Explain how vaccines train the immune system.",
        (ENUMERATION,),
    ),
    "letter_paren": (
        "b) Describe the water cycle in simple terms.",
        "Describe the water cycle in simple terms.",
        (ENUMERATION,),
    ),
    "enumerated_label": ("2. Question: Was ist Photosynthese?", "Was ist Photosynthese?", (ENUMERATION, LABEL)),
    # keep_first_listed_question: a numbered list of several questions keeps the first
    "several_questions": (
        "1. What causes earthquakes?\n2. How are they measured?\n3. Can they be predicted?",
        "What causes earthquakes?",
        (FIRST_LISTED, ENUMERATION),
    ),
    "several_questions_paren_french": (
        "1) Qu'est-ce qu'un trou noir ?\n2) Comment se forme-t-il ?",
        "Qu'est-ce qu'un trou noir ?",
        (FIRST_LISTED, ENUMERATION),
    ),
    # strip_leading_label: scenario / context / description / problem headers and their misspellings
    "scenario": (
        "Scenario: You manage a team of five and one member keeps missing deadlines. What do you do?",
        "You manage a team of five and one member keeps missing deadlines. What do you do?",
        (LABEL,),
    ),
    "senario_misspelt": (
        "Senario: A customer wants a refund after 60 days. How should I reply?",
        "A customer wants a refund after 60 days. How should I reply?",
        (LABEL,),
    ),
    "context_bold": (
        "**Context:** I run a small bakery and sales dropped. How can I attract customers?",
        "I run a small bakery and sales dropped. How can I attract customers?",
        (LABEL,),
    ),
    "problem_statement_heading": (
        "## Problem Statement\nFind all integers x such that x^2 - 5x + 6 = 0.",
        "Find all integers x such that x^2 - 5x + 6 = 0.",
        (LABEL,),
    ),
    "description": (
        "Description: Plan a three-day itinerary for Kyoto.",
        "Plan a three-day itinerary for Kyoto.",
        (LABEL,),
    ),
    # strip_emphasis: emphasis on the first words
    "bold_first_words": (
        "**Help me** plan a birthday party for my son.",
        "Help me plan a birthday party for my son.",
        (EMPHASIS,),
    ),
    "underscore_first_words": ("__Explain__ what a mortgage is.", "Explain what a mortgage is.", (EMPHASIS,)),
    # strip_leading_year
    "year_alone_on_line": (
        "2023\nWhat were the biggest tech trends of the year?",
        "What were the biggest tech trends of the year?",
        (YEAR,),
    ),
    "bracketed_year": ("[2021] How did remote work change offices?", "How did remote work change offices?", (YEAR,)),
    "bold_year_line": (
        "**2019**\nSummarise the key events of the Hong Kong protests.",
        "Summarise the key events of the Hong Kong protests.",
        (YEAR,),
    ),
    # Families issue 29 found let through (checked on cases written for it, not seen by the rules' author)
    "answer_after_a_request": (
        "Calculate the sum of the numbers from 1 to 100. The answer is 5050.",
        "Calculate the sum of the numbers from 1 to 100.",
        (CUT,),
    ),
    "suggestions_after_a_request": (
        "Give me ideas for a rainy afternoon indoors. Here are some: read a book, bake bread, do a puzzle.",
        "Give me ideas for a rainy afternoon indoors.",
        (CUT,),
    ),
    "quoted_question_then_narrative": (
        '"Can you help me plan a weekend in Lisbon?" asked my friend, spreading the map on the table.',
        "Can you help me plan a weekend in Lisbon?",
        (WRAPPED,),
    ),
    "curly_quoted_question_then_speaker": (
        "“Why do onions make us cry?” she wondered while cooking dinner.",
        "Why do onions make us cry?",
        (WRAPPED,),
    ),
    "bold_italic_word_inside": (
        "Please ***carefully*** check my cover letter for tone.",
        "Please carefully check my cover letter for tone.",
        (EMPHASIS,),
    ),
    "bold_word_that_the_sentence_goes_on_from": (
        "**Important** dates for new hires: list the ones in March.",
        "Important dates for new hires: list the ones in March.",
        (EMPHASIS,),
    ),
    "bold_words_inside_a_question": (
        "What is the difference between **weather** and **climate**?",
        "What is the difference between weather and climate?",
        (EMPHASIS,),
    ),
    "section_of_its_own_after_the_data": (
        "Analyse these monthly sales figures:\nJan 10, Feb 12, Mar 9\n\n# Analysis\nSales peaked in February.",
        "Analyse these monthly sales figures:\nJan 10, Feb 12, Mar 9",
        (APPENDED,),
    ),
    "revised_version_heading_after_a_draft": (
        "Make my email sound friendlier:\nSend the files by noon.\n\n## Revised version\nCould you send the files?",
        "Make my email sound friendlier:\nSend the files by noon.",
        (APPENDED,),
    ),
    "bold_important_label": (
        "***Important*** Back up your files before you upgrade. How do I do that?",
        "Back up your files before you upgrade. How do I do that?",
        (LABEL,),
    ),
    "year_ending_its_own_sentence": (
        "2024. What were the most important breakthroughs in battery chemistry?",
        "What were the most important breakthroughs in battery chemistry?",
        (YEAR,),
    ),
}

# The instruction provides material it refers to: it stays whole, whatever follows.
KEEPS_MATERIAL = [
    "Summarise the following text:\nThe Industrial Revolution began in Britain in the late 18th century.",
    "Can you proofread this paragraph?\n\nTheir going to the park tomorow, weather or not it rains.",
    "Translate the sentences below into German.\n\nGood morning. Where is the station?",
    "Fix the bug in this code:\n```python\ndef add(a, b):\n    return a - b\n```",
    "Why does this function return None?\n```python\ndef f(x):\n    x + 1\n```",
    "Write a unit test for my function.\n```python\ndef square(x):\n    return x * x\n```",
    "Classify each review as positive or negative:\n1. Great food!\n2. Terrible service.",
    "Here is my essay. What can I improve?\n\nSocial media has changed how we talk to each other.",
    "Resume el siguiente texto:\nLa Revolución Industrial comenzó en Gran Bretaña.",
    "请总结以下段落：\n人工智能正在改变许多行业。",
    "Rank these programming languages by popularity:\n\nPython\nJava\nRust",
    "What is wrong with my SQL query?\n\nSELECT name FROM users WHERE age > 30 GROUP BY city;",
]

# Near misses: each looks like something a rule removes, and must stay as it is.
NEAR_MISSES = [
    "What is the best way to learn Spanish?\nI have about 30 minutes a day and I prefer apps.",
    "How do I fix a leaking tap?\nMy tap is a mixer tap from the 90s.",
    "Which planet is the largest?\nA) Mars\nB) Jupiter\nC) Venus",
    "What is recursion?\nWhy is it useful in programming?",
    "Write a haiku about autumn.\n\nMake it melancholic and mention the moon.",
    "Write a story about a dragon.\nIt should be about 300 words long.",
    "E. coli lives in the gut; is it always harmful?",
    "J. R. R. Tolkien wrote The Hobbit. What inspired him?",
    "3.14 is close to pi; why is pi irrational?",
    "10 ways to save water? I need a list for a school project.",
    "2024 was a leap year. Which years are leap years?",
    "2024: which events shaped the year?",
    "Context managers in Python: how do they work?",
    "Problems with my landlord keep piling up. What are my rights?",
    "**kwargs in Python: what does **kwargs mean?",
    '"Hello" in French is what?',
    "**My Trip to Japan**\nI went to Tokyo last spring and want to write a blog post about it.",
    "Explain the difference between `list` and `tuple` in Python.\n```python\na = [1]\nb = (1,)\n```\n"
    "When would I use each?",
    "Convert this loop to a list comprehension.\n```python\nout = []\nfor x in xs:\n    out.append(x * 2)\n```",
    "Plan my week. Here are my tasks:\n\n1. Finish the report\n2. Call the bank",
    "¿Qué es la fotosíntesis?\n¿Por qué es importante para la vida?",
    "My teacher says 2 + 2 = 5. The answer is 4, right?",
    "I have quarterly sales data. Here are some figures: 10, 20, 30. Plot them as a bar chart.",
    "Explain why the answer is 42 in The Hitchhiker's Guide to the Galaxy.",
    '"What is love?" is a famous song. Who sang it first?',
    "What do **bold** and *italic* look like in Markdown?",
    "Compute a**2 + b**2 for a = 3 and b = 4.",
    "Review my report:\n# Introduction\nWe sold more this year.\n# Analysis\nGrowth was 5 %.",
    "# Analysis of a sonnet\nExplain the imagery in Shakespeare's Sonnet 18.",
    "1984 is a novel by Orwell. What are its main themes?",
    "Important: my flight leaves tomorrow. What should I pack?",
    "Warning signs of burnout: what are they?",
    "Wie kann ich besser schlafen?\nIch arbeite oft bis spät in die Nacht.",
]


@pytest.mark.parametrize(("raw", "text", "rules_fired"), CASES.values(), ids=CASES.keys())
def test_each_structure_rule(raw, text, rules_fired):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=text, rules_fired=rules_fired)


@pytest.mark.parametrize("raw", KEEPS_MATERIAL)
def test_material_the_instruction_points_at_stays(raw):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=raw, rules_fired=())


@pytest.mark.parametrize("raw", NEAR_MISSES)
def test_near_misses_stay_untouched(raw):
    assert sanitise_instruction(raw) == SanitisedInstruction(text=raw, rules_fired=())


@pytest.mark.parametrize("raw", [case[0] for case in CASES.values()] + KEEPS_MATERIAL + NEAR_MISSES)
def test_structure_rules_are_idempotent(raw):
    once = sanitise_instruction(raw)
    assert sanitise_instruction(once.text) == SanitisedInstruction(text=once.text, rules_fired=())
