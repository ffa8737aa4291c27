"""Stacks as containers, split by job:

- `compose`: a stack's plan as a Compose project, and the generated compose/ files;
- `backend`: the Docker backend of the runtime registry (files, runtime, leftovers);
- `entry`: `python -m gatecrash.containers` (write-compose, init-stack, leftovers).
"""

from gatecrash.containers.backend import DockerBackend, find_leftovers, remove_leftovers
from gatecrash.containers.compose import COMPOSE_DIR, SERVICE_IMAGE, expected_files

__all__ = ["COMPOSE_DIR", "SERVICE_IMAGE", "DockerBackend", "expected_files", "find_leftovers",
           "remove_leftovers"]
