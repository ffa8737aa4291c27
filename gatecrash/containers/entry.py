"""`python -m gatecrash.containers`: regenerate compose/, list or remove leftovers,
and `init-stack`, which runs inside the `stack-init` container of a plain
`docker compose up` (the image has no Docker SDK: nothing here needs one at import).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gatecrash.containers.backend import DEFAULT_INFERENCE, find_leftovers, remove_leftovers
from gatecrash.containers.compose import (
    COMPOSE_DIR,
    DEFAULT_ENTRY_PORT,
    IMAGE_UID,
    STACK_FILE_NAME,
    write_compose,
)
from gatecrash.plan import TOXIPROXY_API_PORT, ContainerNetwork
from gatecrash.stacks import HOME_ENV, create_stack
from targets.stack import RuntimeKind
from targets.topology import Arch, topology_for

__all__ = ["init_stack", "main"]

# create_stack checks names under GATECRASH_HOME; in a container only the spec is wanted.
CONTAINER_HOME = "/tmp/gatecrash"


def init_stack(arch: str, folder: Path, owner: str) -> bool:
    """Write a stack file for a plain `docker compose up` unless the conductor wrote one.

    Runs inside the `stack-init` container. Returns True when it wrote one.
    """
    if (folder / STACK_FILE_NAME).exists():
        return False
    os.environ.setdefault(HOME_ENV, CONTAINER_HOME)
    stack = create_stack(f"compose-{arch}", topology_for(arch),
                         ContainerNetwork(DEFAULT_ENTRY_PORT, TOXIPROXY_API_PORT),
                         runtime=RuntimeKind.DOCKER, inference_backend=DEFAULT_INFERENCE)
    stack.dir = folder
    stack.save()
    uid, _, gid = owner.partition(":")
    for file in folder.iterdir():
        os.chown(file, int(uid), int(gid or uid))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatecrash.containers")
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write-compose", help="regenerate compose/ from the topology")
    write.add_argument("--dir", type=Path, default=COMPOSE_DIR)
    init = sub.add_parser("init-stack", help="(in a container) write a stack file if missing")
    init.add_argument("--arch", required=True, choices=[a.value for a in Arch])
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--owner", default=IMAGE_UID)
    sweep = sub.add_parser("leftovers", help="list (or --remove) what runs of this "
                           "GATECRASH_HOME left on the engine")
    sweep.add_argument("--stack")
    sweep.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command == "write-compose":
        written = write_compose(args.dir)
        out.write(f"written: {', '.join(written) or 'nothing (up to date)'}\n")
    elif args.command == "init-stack":
        wrote = init_stack(args.arch, args.dir, args.owner)
        out.write(f"{'wrote' if wrote else 'kept'} {args.dir / STACK_FILE_NAME} "
                  f"({time.strftime('%H:%M:%S')})\n")
    else:
        items = remove_leftovers(args.stack) if args.remove else find_leftovers(args.stack)
        out.write("\n".join(items) + ("\n" if items else "nothing left\n"))
    return 0
