"""Dedup across the whole corpus: exact duplicates by normalised text, near-duplicates by embedding distance."""
