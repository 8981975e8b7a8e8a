"""The `magpie-dagster` command line: it runs nights through Dagster (`defs/`) and reads the warehouse."""
