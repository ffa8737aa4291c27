"""Errors of the inference service, under the `targets` root."""

from __future__ import annotations

from targets.errors import ConfigError, TargetsError

__all__ = ["EngineStoppedError", "InferenceError", "ModelLoadError", "QueueFullError"]


class InferenceError(TargetsError):
    """Root of the inference service's errors."""


class ModelLoadError(InferenceError, ConfigError):
    """A backend could not be loaded; the message says what to install or fix."""


class QueueFullError(InferenceError):
    """The waiting queue is at `max_queue`: the request is refused at once (HTTP 503)."""


class EngineStoppedError(InferenceError):
    """The batching engine is not running (shut down, or its thread died)."""
