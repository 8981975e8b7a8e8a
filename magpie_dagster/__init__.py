"""magpie-dagster: Magpie alignment-data synthesis as Dagster assets over a DuckDB warehouse."""
