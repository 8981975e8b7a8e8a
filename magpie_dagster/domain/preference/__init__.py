"""Chosen/rejected pairs: k answers per curated instruction (or the responders' answers), scored by a reward model."""
