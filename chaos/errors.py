"""Exceptions of the chaos package: one root, translated at the boundaries.

Everything in ``chaos`` raises a :class:`ChaosError` subclass; lower-level
errors (``httpx``, ``OSError``) are re-raised as one of these with ``from exc``
so callers catch one type and still see the cause.
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ChaosError",
    "ConflictError",
    "NotFoundError",
    "ToxiproxyError",
    "ToxiproxyUnavailableError",
]


class ChaosError(Exception):
    """Root of every error raised by the chaos package."""


class ToxiproxyError(ChaosError):
    """An error answered by a Toxiproxy API, with its HTTP status.

    The same shape is used on the wire by the built-in server (``{"error":
    message, "status": status}``), exactly as Shopify Toxiproxy answers.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @classmethod
    def from_status(cls, status: int, message: str) -> ToxiproxyError:
        """The most specific subclass for ``status``."""
        kind = _BY_STATUS.get(status, ToxiproxyError)
        return kind(status, message)


class BadRequestError(ToxiproxyError):
    """400: the request body or a field was invalid."""


class NotFoundError(ToxiproxyError):
    """404: no such proxy or toxic."""


class ConflictError(ToxiproxyError):
    """409: a proxy or toxic with that name already exists."""


class ToxiproxyUnavailableError(ChaosError):
    """The Toxiproxy API could not be reached or did not answer in time."""


_BY_STATUS: dict[int, type[ToxiproxyError]] = {
    400: BadRequestError,
    404: NotFoundError,
    409: ConflictError,
}
