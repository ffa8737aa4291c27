"""The set of proxies, with upstream's create / update / populate / reset rules.

Inputs are validated here, at the edge (``ProxySpec.parse``); the proxy and
link code below only ever sees trusted values.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from chaos.errors import ToxiproxyError
from chaos.toxiproxy.proxy import Proxy, split_address

__all__ = ["DEFAULT_LISTEN", "PopulateError", "ProxyCollection", "ProxySpec"]

# Upstream's empty listen address binds every interface; this harness keeps
# traffic on loopback unless a proxy asks for another address explicitly.
DEFAULT_LISTEN = "127.0.0.1:0"


def _bad(message: str) -> ToxiproxyError:
    return ToxiproxyError(400, f"bad request body: {message}")


def _field(body: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise _bad(f"{key} must be a {kind.__name__}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ProxySpec:
    """A validated proxy definition (``name``, ``listen``, ``upstream``, ``enabled``)."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    @classmethod
    def parse(cls, body: Any, *, where: str = "") -> ProxySpec:
        if not isinstance(body, Mapping):
            raise _bad("expected a JSON object")
        name = _field(body, "name", str, "")
        upstream = _field(body, "upstream", str, "")
        listen = _field(body, "listen", str, "") or DEFAULT_LISTEN
        enabled = _field(body, "enabled", bool, True)
        if not name:
            raise ToxiproxyError(400, f"missing required field: name{where}")
        if not upstream:
            raise ToxiproxyError(400, f"missing required field: upstream{where}")
        split_address(upstream, what="upstream")
        split_address(listen, what="listen")
        return cls(name=name, listen=listen, upstream=upstream, enabled=enabled)


class PopulateError(ToxiproxyError):
    """A populate that failed part-way: ``proxies`` were applied before the error."""

    def __init__(self, error: ToxiproxyError, proxies: list[Proxy]) -> None:
        super().__init__(error.status, error.message)
        self.proxies = proxies


class ProxyCollection:
    """All proxies of one server, by name. Mutations are serialised by one lock."""

    def __init__(self) -> None:
        self._proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()

    def all(self) -> list[Proxy]:
        return list(self._proxies.values())

    def get(self, name: str) -> Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise ToxiproxyError(404, "proxy not found") from None

    async def create(self, spec: ProxySpec) -> Proxy:
        async with self._lock:
            if spec.name in self._proxies:
                raise ToxiproxyError(409, "proxy already exists")
            proxy = Proxy(spec.name, spec.listen, spec.upstream)
            if spec.enabled:
                await proxy.start()
            self._proxies[spec.name] = proxy
            return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        """Upstream's ``Proxy.Update``: a new listen/upstream restarts the proxy."""
        proxy = self.get(name)
        current = {"name": name, "listen": proxy.listen, "upstream": proxy.upstream}
        if not isinstance(body, Mapping):
            raise _bad("expected a JSON object")
        merged = {**current, "enabled": proxy.enabled, **body, "name": name}
        spec = ProxySpec.parse(merged)
        async with self._lock:
            if spec.listen != proxy.listen or spec.upstream != proxy.upstream:
                proxy.stop()
                proxy.listen, proxy.upstream = spec.listen, spec.upstream
            if spec.enabled and not proxy.enabled:
                await proxy.start()
            elif not spec.enabled:
                proxy.stop()
            return proxy

    async def delete(self, name: str) -> None:
        async with self._lock:
            proxy = self.get(name)
            proxy.stop()
            del self._proxies[name]

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace proxies; one whose listen and upstream match is left untouched."""
        if not isinstance(body, list):
            raise _bad("expected a JSON array of proxies")
        specs = [ProxySpec.parse(item, where=f" at proxy {i + 1}") for i, item in enumerate(body)]
        names = [spec.name for spec in specs]
        for name in names:
            if names.count(name) > 1:
                raise ToxiproxyError(400, f"duplicate proxy name {name!r}")
        applied: list[Proxy] = []
        async with self._lock:
            for spec in specs:
                try:
                    applied.append(await self._add_or_replace(spec))
                except ToxiproxyError as exc:
                    raise PopulateError(exc, applied) from exc
        return applied

    async def _add_or_replace(self, spec: ProxySpec) -> Proxy:
        existing = self._proxies.get(spec.name)
        if existing is not None:
            if existing.listen == spec.listen and existing.upstream == spec.upstream:
                return existing
            existing.stop()
        proxy = Proxy(spec.name, spec.listen, spec.upstream)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        async with self._lock:
            for proxy in self._proxies.values():
                await proxy.start()
                proxy.remove_all_toxics()

    async def close(self) -> None:
        """Stop every proxy (server shutdown)."""
        async with self._lock:
            for proxy in self._proxies.values():
                proxy.stop()
