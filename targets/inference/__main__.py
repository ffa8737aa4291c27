"""`python -m targets.inference --port 8100 --backend tiny`: the service on its own."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from targets.app import ServiceIdentity
from targets.inference import InferenceSettings, build_app
from targets.inference.settings import DEFAULT_CACHE_DIR

__all__ = ["main", "parse_args"]

SERVICE_NAME = "inference"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = InferenceSettings()
    p = argparse.ArgumentParser(prog="python -m targets.inference", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--instance", default="inference-1", help="id in X-Gatecrash-Instance")
    p.add_argument("--role", default=None)
    p.add_argument("--backend", default=defaults.backend,
                   help="tiny | smollm2 | path:/hf/model/dir | upstream:http://host:port")
    p.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size)
    p.add_argument("--max-queue", type=int, default=defaults.max_queue)
    p.add_argument("--max-tokens-default", type=int, default=defaults.max_tokens_default)
    p.add_argument("--max-input-tokens", type=int, default=defaults.max_input_tokens)
    p.add_argument("--device", default=defaults.device, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default=defaults.dtype)
    p.add_argument("--cpu-threads", type=int, default=defaults.cpu_threads)
    p.add_argument("--model-name", default=None)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = InferenceSettings(
        backend=args.backend,
        max_batch_size=args.max_batch_size,
        max_queue=args.max_queue,
        max_tokens_default=args.max_tokens_default,
        max_input_tokens=args.max_input_tokens,
        device=args.device,
        dtype=args.dtype,
        cpu_threads=args.cpu_threads,
        model_name=args.model_name,
        cache_dir=args.cache_dir,
    )
    app = build_app(ServiceIdentity(args.instance, SERVICE_NAME, args.role), settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
