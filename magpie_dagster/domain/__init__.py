"""Pure domain code: templates, sanitising, generation logic. Knows nothing of Dagster or storage."""
