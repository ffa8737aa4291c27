"""One exception root for the traffic package (httpx style)."""

__all__ = ["HostNotAllowedError", "LoadError", "LoadStartError"]


class LoadError(Exception):
    """Root of every error the traffic package raises."""


class HostNotAllowedError(LoadError):
    """The target host is outside 127.0.0.0/8 / localhost and was not explicitly allowed."""


class LoadStartError(LoadError):
    """The Locust process exited or never began generating load."""
