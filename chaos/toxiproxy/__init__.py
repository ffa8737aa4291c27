"""A built-in server speaking Shopify Toxiproxy 2.x's REST API.

No package ships Toxiproxy's server and its image cannot be pulled on these
machines (DESIGN.md §6), so the harness carries its own: an asyncio TCP proxy
with upstream's endpoints, JSON fields, status codes and toxics. Everything
else in ``chaos`` talks to it only through the REST API, so a real Toxiproxy
(``TOXIPROXY_URL``) stays a drop-in.

Run it with ``python -m chaos.toxiproxy --host 127.0.0.1 --port 8474``.
"""

from chaos.toxiproxy.api import API_VERSION
from chaos.toxiproxy.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    BackgroundServer,
    ToxiproxyServer,
    run,
    serve,
)
from chaos.toxiproxy.toxics import TOXICS

__all__ = [
    "API_VERSION",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOXICS",
    "BackgroundServer",
    "ToxiproxyServer",
    "run",
    "serve",
]
