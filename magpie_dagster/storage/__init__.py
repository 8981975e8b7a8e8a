"""The DuckDB warehouse: owns every table's schema and every SQL statement."""
