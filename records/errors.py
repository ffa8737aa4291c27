"""One exception root for `records`; callers translate it at their boundary."""

from __future__ import annotations

__all__ = ["RecordError", "RecordVersionError"]


class RecordError(Exception):
    """A run folder, or one of its files, cannot be read or written as a run record."""


class RecordVersionError(RecordError):
    """A run folder written with a record version this code does not read."""
