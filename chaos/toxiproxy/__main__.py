"""``python -m chaos.toxiproxy --host 127.0.0.1 --port 8474 [--config proxies.json]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chaos.errors import ChaosError
from chaos.toxiproxy.server import DEFAULT_HOST, DEFAULT_PORT, run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.toxiproxy",
        description="A server speaking Shopify Toxiproxy 2.x's REST API.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="API address (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port (default: 8474)")
    parser.add_argument(
        "--config", type=Path, default=None, help="JSON list of proxies to create at start"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        run(args.host, args.port, args.config)
    except ChaosError as exc:
        logging.getLogger("chaos.toxiproxy").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
