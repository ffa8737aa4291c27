"""A small typed client for the Toxiproxy 2.x REST API (ours or Shopify's).

Why not ``toxiproxy-python``: its calls have no timeout (a hung server hangs
the harness, and faults are applied on the clock), it lacks ``/populate``,
PATCH updates, toxic updates and our ``stats``, and it raises bare
exceptions. This client sets a timeout on every call, translates every
failure into a :class:`~chaos.errors.ChaosError` subclass, and returns typed
models. It speaks only the documented API, so ``TOXIPROXY_URL`` may point at
a real Toxiproxy as well as at the built-in server (``python -m chaos.toxiproxy``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaos.errors import ChaosError, ToxiproxyError, ToxiproxyUnavailableError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URL",
    "METRICS_PATH",
    "URL_ENV",
    "Proxy",
    "ProxyConfig",
    "ProxyStats",
    "Toxic",
    "ToxiproxyClient",
]

URL_ENV = "TOXIPROXY_URL"
DEFAULT_URL = "http://127.0.0.1:8474"
# Every API call is local bookkeeping on the server; 5 s means it is stuck.
DEFAULT_TIMEOUT_S = 5.0
READY_POLL_S = 0.05
# Upstream's error status when a route exists but not for this method: a
# server older than 2.6 has no PATCH, so updates fall back to POST.
_METHOD_NOT_ALLOWED = 405

_M = TypeVar("_M", bound=BaseModel)
# A real Toxiproxy started with `-proxy-metrics` serves Prometheus counters here.
METRICS_PATH = "/metrics"
_RECEIVED = "toxiproxy_proxy_received_bytes"


class _Model(BaseModel):
    # Tolerate fields we do not know: servers add some (ours adds ``stats``).
    model_config = ConfigDict(extra="ignore")


class Toxic(_Model):
    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProxyStats(_Model):
    """Counters of the built-in server (absent on a real Toxiproxy)."""

    connections_total: int = 0
    connections_active: int = 0
    connect_errors: int = 0
    bytes_upstream: int = 0
    bytes_downstream: int = 0


class Proxy(_Model):
    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: list[Toxic] = Field(default_factory=list)
    stats: ProxyStats | None = None

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class ProxyConfig(_Model):
    """One entry of a ``/populate`` call or a ``-config`` file."""

    name: str
    upstream: str
    listen: str = "127.0.0.1:0"
    enabled: bool = True


def _base_url(url: str) -> str:
    # Like upstream's client: "host:port" means http://host:port.
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        return body["error"]
    return response.text.strip()


class ToxiproxyClient:
    """Sync client; ``url`` defaults to ``$TOXIPROXY_URL`` or ``http://127.0.0.1:8474``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = _base_url(url or os.environ.get(URL_ENV) or DEFAULT_URL)
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            transport=transport,
            headers={"User-Agent": "gatecrash-chaos"},
        )

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise ToxiproxyUnavailableError(
                f"Toxiproxy at {self.url} did not answer {method} {path} in time: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise ToxiproxyUnavailableError(
                f"cannot reach Toxiproxy at {self.url} ({exc}); start one with "
                f"`python -m chaos.toxiproxy` or set {URL_ENV}"
            ) from exc
        if response.status_code >= 300:
            raise ToxiproxyError.from_status(response.status_code, _error_message(response))
        return response

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self._send(method, path, body)
        try:
            return response.json()
        except ValueError as exc:
            raise ChaosError(f"{method} {path}: the answer is not JSON: {response.text!r}") from exc

    def _update(self, path: str, body: Mapping[str, Any]) -> Any:
        try:
            return self._json("PATCH", path, body)
        except ToxiproxyError as exc:
            if exc.status != _METHOD_NOT_ALLOWED:
                raise
            return self._json("POST", path, body)

    @staticmethod
    def _parse(model: type[_M], data: Any) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ChaosError(f"unexpected {model.__name__} from Toxiproxy: {exc}") from exc

    # -- server ---------------------------------------------------------------

    def version(self) -> str:
        """The server's version (2.x answers JSON, 2.1 and older plain text)."""
        text = self._send("GET", "/version").text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return str(data.get("version", text)) if isinstance(data, Mapping) else text

    def is_running(self) -> bool:
        try:
            self._send("GET", "/version")
        except ChaosError:
            return False
        return True

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Poll ``/version`` until the server answers, at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.is_running():
            if time.monotonic() >= deadline:
                raise ToxiproxyUnavailableError(
                    f"Toxiproxy at {self.url} not ready after {timeout_s:.1f} s"
                )
            time.sleep(READY_POLL_S)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._send("POST", "/reset")

    # -- proxies --------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        data = self._json("GET", "/proxies")
        return {name: self._parse(Proxy, value) for name, value in data.items()}

    def proxy(self, name: str) -> Proxy:
        return self._parse(Proxy, self._json("GET", f"/proxies/{name}"))

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True
    ) -> Proxy:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return self._parse(Proxy, self._json("POST", "/proxies", body))

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> Proxy:
        fields = {"listen": listen, "upstream": upstream, "enabled": enabled}
        body = {key: value for key, value in fields.items() if value is not None}
        return self._parse(Proxy, self._update(f"/proxies/{name}", body))

    def enable_proxy(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def disable_proxy(self, name: str) -> Proxy:
        """Close the listener and every live connection of the proxy."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._send("DELETE", f"/proxies/{name}")

    def populate(self, proxies: Iterable[ProxyConfig | Mapping[str, Any]]) -> list[Proxy]:
        """Create or replace proxies; those whose listen and upstream match stay untouched."""
        body = [
            (p if isinstance(p, ProxyConfig) else self._parse(ProxyConfig, p)).model_dump()
            for p in proxies
        ]
        data = self._json("POST", "/populate", body)
        return [self._parse(Proxy, p) for p in data.get("proxies") or []]

    def stats(self, name: str) -> ProxyStats | None:
        """The proxy's counters, or None on a server without them (a real Toxiproxy)."""
        return self.proxy(name).stats

    def metrics_bytes(self) -> dict[str, ProxyStats] | None:
        """Bytes per proxy from a real Toxiproxy's Prometheus proxy metrics
        (`toxiproxy_proxy_received_bytes_total{direction, proxy}`), or None when the
        server serves none (404: started without `-proxy-metrics`, or ours).

        Toxiproxy adds a link's bytes when the link ends: a connection still open
        has added nothing yet, so these count the connections that closed.
        """
        from prometheus_client.parser import text_string_to_metric_families

        try:
            response = self._send("GET", METRICS_PATH)
        except ToxiproxyError:
            return None
        found: dict[str, ProxyStats] = {}
        try:
            families = list(text_string_to_metric_families(response.text))
        except ValueError as exc:
            raise ChaosError(f"{self.url}{METRICS_PATH} is not Prometheus text: {exc}") from exc
        for family in families:
            if family.name != _RECEIVED:
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                proxy = sample.labels.get("proxy", "")
                stats = found.setdefault(proxy, ProxyStats())
                if sample.labels.get("direction") == "upstream":
                    stats.bytes_upstream += int(sample.value)
                else:
                    stats.bytes_downstream += int(sample.value)
        # Served but empty: no connection through any proxy has closed yet.
        return found

    # -- toxics ---------------------------------------------------------------

    def toxics(self, proxy: str) -> list[Toxic]:
        return [self._parse(Toxic, t) for t in self._json("GET", f"/proxies/{proxy}/toxics")]

    def toxic(self, proxy: str, name: str) -> Toxic:
        return self._parse(Toxic, self._json("GET", f"/proxies/{proxy}/toxics/{name}"))

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Toxic:
        """Add a toxic; its name defaults to ``<type>_<stream>`` as upstream's."""
        body = {
            "name": name or f"{type}_{stream}",
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        return self._parse(Toxic, self._json("POST", f"/proxies/{proxy}/toxics", body))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> Toxic:
        """Change attributes (merged over the current ones) and/or toxicity."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return self._parse(Toxic, self._update(f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._send("DELETE", f"/proxies/{proxy}/toxics/{name}")
