"""One exception root for the system under test."""

__all__ = ["ConfigError", "TargetsError", "UpstreamError"]


class TargetsError(Exception):
    """Root of every error raised by `targets`."""


class ConfigError(TargetsError):
    """A stack file or a service setting is wrong; the message says how to fix it."""


class UpstreamError(TargetsError):
    """No replica of an upstream service could answer."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
