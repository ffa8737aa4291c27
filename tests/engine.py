"""Whether the Docker backend can run here, for tests that skip with the reason."""

from __future__ import annotations

from chaos.runtime.engine import docker_client, engine_problem
from gatecrash.containers import SERVICE_IMAGE

__all__ = ["BUILD_HINT", "docker_unusable"]

BUILD_HINT = "run scripts/start-dockerd.sh and scripts/build-images.sh"


def docker_unusable() -> str | None:
    """Why no Docker test can run here (no SDK, engine, Compose v2 or image), or None."""
    problem = engine_problem()
    if problem:
        return f"no usable Docker engine: {problem} ({BUILD_HINT})"
    client = docker_client()
    try:
        client.images.get(SERVICE_IMAGE)
    except Exception:
        return f"image {SERVICE_IMAGE} not built ({BUILD_HINT})"
    finally:
        client.close()
    return None
