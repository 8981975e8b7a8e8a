"""LLM-judged tags: prompts as data, label sets, lenient parsing, retries, language, safety and reward."""
