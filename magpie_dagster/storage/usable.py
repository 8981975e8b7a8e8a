"""What "usable" means in every query: a row no stage dropped. One spelling, so a new drop rule (or a new way to
drop) changes every stage's reading of the warehouse at once."""

from __future__ import annotations


def usable(alias: str = "") -> str:
    """The SQL condition that a row (of the table `alias` names, if given) is usable."""
    return f"{alias + '.' if alias else ''}drop_reason IS NULL"
