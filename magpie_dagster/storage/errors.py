"""What storage raises: a message that names the warehouse (a file, or a lake without its password) and what to do."""

from __future__ import annotations

import re


class WarehouseError(RuntimeError):
    """The warehouse could not be opened or written; the message names it and what to do."""


class WarehouseWriteFailed(WarehouseError):
    """A write to the warehouse failed at the storage (a full disk, a file size limit); it was rolled back."""


def redacted(text: str) -> str:
    """`text` with any libpq password replaced, for messages and metadata."""
    return re.sub(r"password\s*=\s*('[^']*'|\S+)", "password=***", text)


def first_line(error: Exception) -> str:
    """The first line of an error, for a one-line message; a lake's catalog password never shows."""
    return redacted((str(error).strip().splitlines() or [type(error).__name__])[0])
