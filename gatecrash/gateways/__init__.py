"""Real gateway products in the gateway and router roles, LiteLLM on the LLM path.

`program_for` says which product runs an instance (from the plan);
`write_config` renders its native config from the stack (no second source of
truth: `site.py` reads the topology, `nginx.py`/`haproxy.py`/`litellm.py` only
translate); `product_argv` is how a runtime starts it in the foreground;
`require_installed` fails at once, naming the missing binary and the command
that installs it (docs/gateways.md).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gatecrash.errors import InputError
from gatecrash.gateways import haproxy, litellm, nginx
from gatecrash.gateways.site import site_for
from targets.stack import InstanceSpec, StackSpec
from targets.topology import GatewayKind, LlmRouterKind, Program

__all__ = [
    "LITELLM_ENV",
    "PRODUCTS",
    "Product",
    "product_argv",
    "product_env",
    "products_of",
    "render_config",
    "require_installed",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
# Where scripts/install-gateways.sh --litellm puts LiteLLM (a venv of its own).
LITELLM_ENV = "GATECRASH_LITELLM"
LITELLM_VENV_BIN = REPO / ".venv-litellm" / "bin" / "litellm"


@dataclass(frozen=True)
class Product:
    name: str
    binary: str
    install: str
    config_suffix: str


PRODUCTS: dict[str, Product] = {
    "nginx": Product("nginx", "nginx", "sudo bash scripts/install-gateways.sh "
                     "(apt-get install -y nginx-light)", "nginx.conf"),
    "haproxy": Product("haproxy", "haproxy", "sudo bash scripts/install-gateways.sh "
                       "(apt-get install -y haproxy)", "haproxy.cfg"),
    "litellm": Product("litellm", "litellm", "bash scripts/install-gateways.sh --litellm "
                       "(litellm[proxy]==1.108.7 in .venv-litellm)", "litellm.yaml"),
}


def products_of(gateway: GatewayKind, llm_router: LlmRouterKind,
                programs: list[tuple[str, Program]]) -> dict[str, str]:
    """Instance id → the product that runs it, for `(instance id, program)` pairs;
    instances not named run Gatecrash's own program."""
    out = {}
    for iid, program in programs:
        if program in (Program.GATEWAY, Program.ROUTER) and gateway is not GatewayKind.BUILTIN:
            out[iid] = gateway.value
        elif program is Program.LLM_ROUTER and llm_router is LlmRouterKind.LITELLM:
            out[iid] = llm_router.value
    return out


def find_binary(product: str) -> str | None:
    if product == "litellm":
        named = os.environ.get(LITELLM_ENV)
        if named:
            return named if os.access(named, os.X_OK) else None
        if os.access(LITELLM_VENV_BIN, os.X_OK):
            return str(LITELLM_VENV_BIN)
    return shutil.which(PRODUCTS[product].binary)


def require_installed(products: set[str]) -> dict[str, str]:
    """The binary of each product, or an InputError naming what to install."""
    found = {}
    for name in sorted(products):
        binary = find_binary(name)
        if binary is None:
            raise InputError(f"{PRODUCTS[name].binary} is not installed (needed for "
                             f"--{'llm-router' if name == 'litellm' else 'gateway'} {name});"
                             f" install it with: {PRODUCTS[name].install}")
        found[name] = binary
    return found


def config_file(instance: str, product: str) -> str:
    return f"{instance}.{PRODUCTS[product].config_suffix}"


def render_config(spec: StackSpec, instance: InstanceSpec, product: str, work_dir: str) -> str:
    """The instance's native config; `work_dir`: where the running product keeps its
    pid and temp files."""
    if product == "litellm":
        return litellm.render(spec, instance)
    render = nginx.render if product == "nginx" else haproxy.render
    return render(site_for(spec, instance), work_dir)


def write_config(spec: StackSpec, instance: InstanceSpec, product: str, folder: Path,
                 work_dir: str) -> Path:
    """Render the instance's native config into `folder`; its path."""
    text = render_config(spec, instance, product, work_dir)
    path = folder / config_file(instance.id, product)
    # The HAProxy config holds the signing key: readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def product_argv(product: str, binary: str, config: str, instance: InstanceSpec) -> list[str]:
    """How to run the product in the foreground (it stays the process the runtime holds)."""
    if product == "nginx":
        # -e: the error log of the start-up, before the config is read, goes to stderr.
        return [binary, "-e", "stderr", "-c", config]
    if product == "haproxy":
        return [binary, "-db", "-f", config]
    return [binary, "--config", config, "--host", instance.host, "--port", str(instance.port),
            "--num_workers", "1"]


def product_env(product: str) -> dict[str, str]:
    return dict(litellm.ENV) if product == "litellm" else {}
