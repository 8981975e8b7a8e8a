"""Curation: recipes of rules that turn tagged, deduplicated rows into the subset people train on."""
