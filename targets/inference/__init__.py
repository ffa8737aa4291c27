"""OpenAI-compatible inference service: a local model batched on CPU/CUDA, or a proxy.

`build_app(identity, settings)` gives the FastAPI app; `python -m targets.inference`
runs it standalone. Importing this package stays light: torch and transformers are
imported when the app is built and the model loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from targets.inference.settings import InferenceSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from targets.app import ServiceIdentity

__all__ = ["InferenceSettings", "build_app"]


def build_app(identity: ServiceIdentity, settings: InferenceSettings) -> FastAPI:
    """The inference service app; its lifespan loads the model and starts the engine."""
    from targets.inference.service import build_app as _build_app

    return _build_app(identity, settings)
