"""Inference service settings (owned by the inference service)."""

from pydantic import BaseModel, Field

__all__ = ["InferenceSettings"]


class InferenceSettings(BaseModel):
    """`backend`: `tiny`, `smollm2`, `path:/dir` or `upstream:URL`."""

    backend: str = "tiny"
    max_batch_size: int = Field(default=16, ge=1)
    max_queue: int = Field(default=64, ge=1)
    max_tokens_default: int = Field(default=32, ge=1)
