"""Decontamination: which generated instructions repeat a benchmark's prompts (exact, 13-gram, embedding)."""
