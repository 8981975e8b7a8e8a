"""What storage raises: a message that names the warehouse (a file, or a lake without its password) and what to do."""

from __future__ import annotations


class WarehouseError(RuntimeError):
    """The warehouse could not be opened or written; the message names it and what to do."""


class WarehouseWriteFailed(WarehouseError):
    """A write to the warehouse failed at the storage (a full disk, a file size limit); it was rolled back."""
