"""`python -m chaos.httpfaults --host 127.0.0.1 --port 8475`: the fault-layer server."""

from __future__ import annotations

import argparse
import logging
import sys

from chaos.errors import ChaosError
from chaos.httpfaults.server import run

__all__ = ["main"]

DEFAULT_PORT = 8475


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.httpfaults",
                                     description="HTTP/SSE fault layers and their control API.")
    parser.add_argument("--host", default="127.0.0.1", help="API address (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port")
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args.host, args.port)
    except ChaosError as exc:
        logging.getLogger("chaos.httpfaults").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
