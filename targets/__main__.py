"""Run one instance of a stack: `python -m targets --stack FILE --instance ID`.

The runtime starts every instance this way; the program is read from the
stack file, so there is one entry point for every service.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from targets.errors import TargetsError
from targets.stack import ENV_INSTANCE, ENV_STACK_FILE, StackSpec, load_stack
from targets.topology import Program

__all__ = ["PRELOAD_MODULES", "build_instance_app", "main"]

STANDIN_BACKEND = "standin"

# program → module with `build_app(ctx)`; inference and redis are special.
PROGRAM_MODULES: dict[Program, str] = {
    Program.ROUTER: "targets.router",
    Program.GATEWAY: "targets.gateway.app",
    Program.AUTH: "targets.services.auth",
    Program.USERS: "targets.services.users",
    Program.QUOTA: "targets.services.quota",
    Program.CHAT: "targets.services.chat",
    Program.MODELS: "targets.services.models",
    Program.ORDERS: "targets.services.orders",
    Program.ARTICLES: "targets.services.articles",
    Program.ANALYTICS: "targets.services.analytics",
    Program.MONITORING: "targets.services.monitoring",
    Program.FALLBACK: "targets.services.fallback",
}

# What a fork server imports once for the instances it starts (the local runtime's
# chaos.runtime.forks): each program's app, and what `main` serves it with.
PRELOAD_MODULES: tuple[str, ...] = (
    *PROGRAM_MODULES.values(), "targets.context", "targets.services.standin_inference",
    "uvicorn", "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
)
# An inference replica with a model: torch and transformers (~5 s of CPU). A server
# of its own, so the others' forks do not wait for these imports.
MODEL_PRELOAD_MODULES: tuple[str, ...] = (
    *PRELOAD_MODULES, "targets.inference", "targets.inference.backends", "torch",
    "transformers", "transformers.models.llama.modeling_llama",
)
# Read by huggingface_hub at its import, so it must be set before (as load_model does).
MODEL_PRELOAD_ENV = {"HF_HUB_OFFLINE": "1"}


def build_instance_app(stack: StackSpec, instance_id: str):  # -> FastAPI
    from targets.context import ServiceContext

    instance = stack.instance(instance_id)
    if instance.program is Program.INFERENCE:
        from targets.app import ServiceIdentity

        identity = ServiceIdentity(instance.id, instance.service, instance.role)
        if stack.inference.backend == STANDIN_BACKEND:
            from targets.services.standin_inference import build_app as build_standin

            return build_standin(identity)
        from targets.inference import build_app as build_inference

        return build_inference(identity, stack.inference)
    if instance.program is Program.REDIS:
        raise TargetsError("redis instances run redis-server, not a Python app")
    module = importlib.import_module(PROGRAM_MODULES[instance.program])
    return module.build_app(ServiceContext(stack=stack, instance=instance))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets", description=__doc__)
    parser.add_argument("--stack", default=os.environ.get(ENV_STACK_FILE))
    parser.add_argument("--instance", default=os.environ.get(ENV_INSTANCE))
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if not args.stack or not args.instance:
        parser.error("--stack and --instance are required")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        stack = load_stack(args.stack)
        instance = stack.instance(args.instance)
        app = build_instance_app(stack, args.instance)
    except TargetsError as exc:
        logging.getLogger("targets").error("%s", exc)
        return 2
    import uvicorn

    # No access log: it would hold request lines, and costs CPU at load. No
    # X-Forwarded-* rewriting either: nothing here reads the client's address.
    uvicorn.run(app, host=instance.host, port=instance.port, log_level=args.log_level,
                access_log=False, proxy_headers=False, loop="uvloop", http="httptools",
                lifespan="on", timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
