"""Stacks on this machine: a planned stack's spec, secrets and plan, each stack in
its own folder under `GATECRASH_HOME`, whatever runtime deploys it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from gatecrash.errors import InputError, StackError
from gatecrash.plan import Network, PlanOptions, StackPlan, plan_stack
from targets.keys import issue_key, new_signing_key
from targets.stack import Limits, RuntimeKind, StackSpec, TenantSpec
from targets.topology import GatewayKind, LlmRouterKind, Topology

__all__ = [
    "DEMO_TENANT",
    "FREE_TENANT",
    "HOME_ENV",
    "LIMITED_QUOTA",
    "LIMITED_TENANT",
    "TENANTS",
    "Stack",
    "create_stack",
    "find_stack",
    "gatecrash_home",
    "home_id",
    "list_stacks",
]

HOME_ENV = "GATECRASH_HOME"
DEFAULT_HOME = Path.home() / ".gatecrash"
DEMO_TENANT = "demo"
DEMO_QUOTA = 10_000_000  # per minute: load tests must not hit it by accident
LIMITED_TENANT = "limited"
LIMITED_QUOTA = 5
# A free-tier plan, as API providers sell them (tens to a few hundred requests per
# minute): what a flooding tenant is on in C11. Each domain gateway of `dual` gives
# it the same plan per domain (targets.stack.TenantSpec's default).
FREE_TENANT = "free"
FREE_QUOTA = 120
TENANTS = (DEMO_TENANT, LIMITED_TENANT, FREE_TENANT)
STACK_FILE = "stack.json"
CREDENTIALS_FILE = "credentials.json"
PLAN_FILE = "plan.json"
HOME_ID_CHARS = 12


def gatecrash_home() -> Path:
    return Path(os.environ.get(HOME_ENV, DEFAULT_HOME))


def home_id() -> str:
    """A short, stable identity of this machine's GATECRASH_HOME.

    What a home deploys on a Docker engine carries it (a label, and its Compose
    project names), so that two homes sharing one engine (two users, two test
    sessions, a remote engine serving several machines) never sweep, or reuse,
    each other's stacks. The host name is part of it: the same path on two
    machines is two homes.
    """
    where = f"{socket.gethostname()}:{gatecrash_home().resolve()}"
    return hashlib.sha256(where.encode()).hexdigest()[:HOME_ID_CHARS]


def _stacks_dir() -> Path:
    return gatecrash_home() / "stacks"


@dataclass
class Stack:
    """A stack's folder: its spec (what instances read), its demo credentials and
    its plan (what the conductor wires: hop proxies, environments)."""

    dir: Path
    spec: StackSpec
    api_key: str
    plan: StackPlan

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def stack_file(self) -> Path:
        return self.dir / STACK_FILE

    def save(self) -> None:
        self.spec.write(self.stack_file)
        fd = os.open(self.dir / CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"api_key": self.api_key}, fh)
        (self.dir / PLAN_FILE).write_text(self.plan.model_dump_json(indent=2))

    def api_key_for(self, tenant: str) -> str:
        """A key of `tenant` (the demo key for the demo tenant), signed with this stack's key."""
        if tenant == DEMO_TENANT:
            return self.api_key
        return issue_key(self.spec.signing_key, tenant, f"{tenant}-user")

    def remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def check_name(name: str) -> None:
    """A stack name is a folder and a Compose project name: keep it plain and free."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"stack name {name!r}: use letters, digits, '-' or '_'")
    if find_stack(name, missing_ok=True) is not None:
        raise StackError(f"a stack named {name!r} exists already; run `gatecrash down "
                         f"--name {name}` first, or pick another --name")


def create_stack(name: str, topology: Topology, network: Network, *, runtime: RuntimeKind,
                 options: PlanOptions | None = None, inference_backend: str | None = None,
                 limits: Limits | None = None) -> Stack:
    """Plan `topology` on `network` into a stack spec with fresh secrets (not saved yet)."""
    check_name(name)
    plan = plan_stack(topology, network, options)
    signing_key = new_signing_key()
    spec = StackSpec(
        name=name, stack_id=secrets.token_hex(4), arch=topology.arch, runtime=runtime,
        instances=plan.instances, redis_url=plan.redis_url, signing_key=signing_key,
        tenants=[TenantSpec(name=DEMO_TENANT, quota_per_minute=DEMO_QUOTA),
                 TenantSpec(name=LIMITED_TENANT, quota_per_minute=LIMITED_QUOTA),
                 TenantSpec(name=FREE_TENANT, quota_per_minute=FREE_QUOTA)],
        limits=limits or Limits(), entry_url=plan.entry_url, toxiproxy_url=plan.toxiproxy_url,
        gateway=options.gateway if options else GatewayKind.BUILTIN,
        llm_router=options.llm_router if options else LlmRouterKind.BUILTIN,
    )
    if inference_backend:
        spec.inference.backend = inference_backend
    api_key = issue_key(signing_key, DEMO_TENANT, "demo-user")
    return Stack(_stacks_dir() / name, spec, api_key, plan)


def find_stack(name: str, *, missing_ok: bool = False) -> Stack | None:
    folder = _stacks_dir() / name
    if not (folder / STACK_FILE).exists():
        if missing_ok:
            return None
        known = ", ".join(s.name for s in list_stacks()) or "none"
        raise StackError(f"no stack named {name!r} (stacks: {known}); start one with "
                         "`gatecrash up`")
    return load_stack_folder(folder)


def load_stack_folder(folder: Path) -> Stack:
    try:
        spec = StackSpec.model_validate_json((folder / STACK_FILE).read_text())
        creds = json.loads((folder / CREDENTIALS_FILE).read_text())
        plan = StackPlan.model_validate_json((folder / PLAN_FILE).read_text())
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise StackError(f"stack folder {folder} is unreadable ({exc}); stop what it "
                         f"started with `gatecrash down --all`, then remove the folder") from exc
    return Stack(folder, spec, creds["api_key"], plan)


def list_stacks() -> list[Stack]:
    root = _stacks_dir()
    if not root.exists():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if not (folder / STACK_FILE).exists():
            continue
        try:
            found.append(load_stack_folder(folder))
        except StackError:
            continue  # half-written or from another version: its processes get swept
    return found
