"""A small typed client for the fault-layer control API (`chaos.httpfaults.server`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chaos.errors import ChaosError, ToxiproxyError
from chaos.httpfaults.faults import FaultRule
from chaos.httpfaults.layer import LayerStats
from chaos.httpfaults.server import LayerConfig

__all__ = ["HttpFaultsClient", "HttpFaultsUnavailableError", "LayerState"]

TIMEOUT_S = 5.0
READY_POLL_S = 0.05


class HttpFaultsUnavailableError(ChaosError):
    """The fault-layer API could not be reached."""


class LayerState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    listen: str
    upstream: str
    faults: list[FaultRule] = Field(default_factory=list)
    stats: LayerStats = Field(default_factory=LayerStats)


class HttpFaultsClient:
    """Sync client; every call has a timeout and raises a `ChaosError`."""

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise HttpFaultsUnavailableError(
                f"cannot reach the fault-layer API at {self.url} ({exc})") from exc
        if response.status_code >= 300:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text
            raise ToxiproxyError.from_status(response.status_code, message)
        return response

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._send("GET", "/version")
                return
            except HttpFaultsUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(READY_POLL_S)

    def populate(self, layers: Iterable[LayerConfig]) -> list[LayerState]:
        data = self._send("POST", "/populate", [c.model_dump() for c in layers]).json()
        return [self._parse(LayerState, x) for x in data["layers"]]

    def layer(self, name: str) -> LayerState:
        return self._parse(LayerState, self._send("GET", f"/layers/{name}").json())

    def add_fault(self, layer: str, rule: FaultRule) -> FaultRule:
        body = rule.model_dump(exclude={"counters"})
        return self._parse(FaultRule, self._send("POST", f"/layers/{layer}/faults", body).json())

    def fault(self, layer: str, name: str) -> FaultRule:
        return self._parse(FaultRule, self._send("GET", f"/layers/{layer}/faults/{name}").json())

    def remove_fault(self, layer: str, name: str) -> FaultRule:
        """Remove a fault; its final counters."""
        return self._parse(FaultRule,
                           self._send("DELETE", f"/layers/{layer}/faults/{name}").json())

    def reset(self) -> None:
        self._send("POST", "/reset")

    @staticmethod
    def _parse(model: type[Any], data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ChaosError(f"unexpected {model.__name__} from the fault-layer API: {exc}"
                             ) from exc
