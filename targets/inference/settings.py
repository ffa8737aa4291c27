"""Inference service settings (owned by the inference service)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

__all__ = ["DEFAULT_CACHE_DIR", "BackendSpec", "InferenceSettings", "parse_backend"]

# Converted models (GGUF -> safetensors) live here, so a second start loads in < 1 s.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gatecrash" / "models"

# `standin` is served by targets.services.standin_inference (no model), not here.
_LOCAL_BACKENDS = ("tiny", "smollm2", "standin")
_PREFIXED_BACKENDS = ("path:", "upstream:")
_MODEL_BACKENDS = ("tiny", "smollm2", "path")


class BackendSpec(BaseModel):
    """`InferenceSettings.backend` split into its kind and its argument."""

    kind: str  # tiny | smollm2 | path | upstream
    target: str = ""  # the folder for `path`, the base URL for `upstream`


def parse_backend(backend: str) -> BackendSpec:
    """`tiny`, `smollm2`, `path:/dir` or `upstream:URL` -> BackendSpec; ValueError otherwise."""
    if backend in _LOCAL_BACKENDS:
        return BackendSpec(kind=backend)
    for prefix in _PREFIXED_BACKENDS:
        if backend.startswith(prefix):
            target = backend[len(prefix):].strip()
            if not target:
                raise ValueError(f"backend {backend!r}: give a value after {prefix!r}")
            return BackendSpec(kind=prefix[:-1], target=target)
    raise ValueError(
        f"unknown backend {backend!r}: use 'tiny', 'smollm2', 'path:/local/hf/model/dir' "
        "or 'upstream:http://host:port'"
    )


class InferenceSettings(BaseModel):
    """`backend`: `tiny`, `smollm2`, `path:/dir` or `upstream:URL`."""

    backend: str = "tiny"
    max_batch_size: int = Field(default=16, ge=1)
    max_queue: int = Field(default=64, ge=1)
    max_tokens_default: int = Field(default=32, ge=1)

    # Request limits: a prompt over `max_input_tokens` or a body over `max_request_bytes`
    # is refused (400 / 413) before it reaches the batch.
    max_tokens_limit: int = Field(default=1024, ge=1)
    max_input_tokens: int = Field(default=2048, ge=1)
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    # Prompt + completion never exceed this (also capped by the model's own positions).
    max_context_tokens: int = Field(default=4096, ge=16)

    # Seconds a 503 (queue full) tells the client to wait.
    retry_after_s: int = Field(default=1, ge=0)
    model_name: str | None = None  # the id served in /v1/models; derived from backend if unset
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (fp32 on CPU, bf16/fp16 on GPU) | float32 | bfloat16 | float16
    cache_dir: Path = DEFAULT_CACHE_DIR
    # Torch intra-op threads on CPU; 0 = all cores but one, which stays free for the
    # HTTP loop (on 2 cores that doubles as "no OpenMP stragglers" for small models).
    cpu_threads: int = Field(default=0, ge=0)
    tiny_seed: int = 0  # weights of the `tiny` model
    upstream_api_key: str | None = None
    upstream_timeout_s: float = Field(default=300.0, gt=0)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        parse_backend(value)
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError("dtype must be auto, float32, bfloat16 or float16")
        return value

    @property
    def backend_spec(self) -> BackendSpec:
        return parse_backend(self.backend)

    @property
    def loads_a_model(self) -> bool:
        """Whether the replica holds a model (torch), not a stand-in or an upstream."""
        return self.backend_spec.kind in _MODEL_BACKENDS
