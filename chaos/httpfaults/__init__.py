"""HTTP and LLM-stream faults that Toxiproxy cannot make (issue 15).

A fault layer is a small asyncio HTTP/1.1 proxy in front of one instance,
chained after the hop's TCP proxy (caller -> Toxiproxy -> layer -> instance),
so the real Toxiproxy stays a drop-in for the TCP toxics. One server per
stack holds every layer and a control API (`python -m chaos.httpfaults`).
"""

from chaos.httpfaults.client import HttpFaultsClient, LayerState
from chaos.httpfaults.faults import (
    HTTP_FAULTS,
    FaultCounters,
    FaultRule,
    HttpFault,
    HttpFaultError,
    Selector,
    parse_http_fault,
)
from chaos.httpfaults.server import BackgroundLayers, LayerConfig

__all__ = [
    "HTTP_FAULTS",
    "BackgroundLayers",
    "FaultCounters",
    "FaultRule",
    "HttpFault",
    "HttpFaultError",
    "HttpFaultsClient",
    "LayerConfig",
    "LayerState",
    "Selector",
    "parse_http_fault",
]
