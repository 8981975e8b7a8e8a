"""Metadata the Dagster UI shows: small markdown tables of rows."""

from __future__ import annotations


def markdown_table(rows: list[dict], columns: list[str], max_chars: int = 120) -> str:
    """A small markdown table for the Dagster UI; cells are flattened and shortened."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    header = "| " + " | ".join(columns) + " |"
    divider = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join([header, divider, *body])
