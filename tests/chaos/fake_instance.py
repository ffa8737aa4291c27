"""A fake instance for the fork-server tests: `python -m tests.chaos.fake_instance
OUT PORT` writes what it sees of itself to OUT (JSON), prints a line to its log,
then accepts connections on PORT until it is killed."""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import time

HELLO = "fake instance up"


def main(out: str, port: int) -> None:
    facts = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ),
             "pid": os.getpid(), "sid": os.getsid(0), "ppid": os.getppid(),
             "draw": random.random()}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(facts, f)
    print(HELLO, flush=True)
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
