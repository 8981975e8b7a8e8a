"""Metadata the Dagster UI shows: plain values typed for the UI, small markdown tables of rows."""

from __future__ import annotations

import dagster as dg


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


def as_metadata(values: dict[str, object]) -> dict[str, dg.MetadataValue]:
    """Plain numbers, text and JSON-able collections (a domain summary) as the UI's typed metadata values."""

    def typed(value: object) -> dg.MetadataValue:
        if isinstance(value, (bool, dict, list, tuple)):
            return dg.MetadataValue.json(value)
        if isinstance(value, int):
            return dg.MetadataValue.int(value)
        if isinstance(value, float):
            return dg.MetadataValue.float(value)
        return dg.MetadataValue.text(str(value))

    return {name: typed(value) for name, value in values.items()}
