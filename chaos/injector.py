"""Applying faults to one deployed stack (DESIGN.md §8): `Injector.applied()`
applies a fault of the catalogue (`chaos.faults`) as a context manager, reads back
a proof that it took effect, and always removes it. A toxic or an HTTP fault
also gets its traffic proof: a toxic from the hop proxy's counters, an HTTP fault
from its layer's final counters; where none could be read it says "unavailable",
never an empty pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from chaos.client import ProxyStats, ToxiproxyClient
from chaos.errors import ChaosError
from chaos.faults import (
    STATE_WAIT_S,
    TOXIC_PREFIX,
    Fault,
    FaultError,
    FaultSpec,
    Kill,
    Pause,
    ProxyDown,
    Restart,
    Terminate,
    Toxic,
)
from chaos.httpfaults.client import HttpFaultsClient
from chaos.httpfaults.faults import FaultRule, HttpFault, Selector
from chaos.runtime.base import InstanceState, Runtime
from records.events import (
    FaultEvent,
    HopTraffic,
    HttpFaultTraffic,
    Proof,
    TrafficProof,
    TrafficSource,
)

__all__ = ["Injector"]


class Injector:
    """Applies faults to one deployed stack through its runtime and Toxiproxy API."""

    def __init__(self, runtime: Runtime, toxiproxy: ToxiproxyClient | None,
                 layers: HttpFaultsClient | None = None) -> None:
        self.runtime = runtime
        self.toxiproxy = toxiproxy
        self.layers = layers
        self.paused: set[str] = set()

    @contextmanager
    def applied(self, spec: FaultSpec, event_id: str) -> Iterator[FaultEvent]:
        fault = spec.value
        targets = spec.target.resolve(self.runtime.statuses())
        label = f"{fault.kind} {', '.join(targets)}"
        event = FaultEvent(id=event_id, fault=fault.kind, params=fault.params(), targets=targets,
                           label=label, start=time.time())
        # Traffic proves a toxic met live connections; a disabled proxy has none by design.
        counts_traffic = isinstance(fault, Toxic)
        before = self._hop_counts(targets) if counts_traffic else None
        try:
            if isinstance(fault, HttpFault):
                event.proof = self._apply_http(fault, spec, targets, event_id)
            else:
                event.proof = self._apply(fault, spec, targets, event_id)
            event.effective = time.time()
            yield event
        finally:
            # A caller ending several faults at one moment stamps them first.
            if event.end is None:
                event.end = time.time()
            if counts_traffic:
                event.traffic, event.traffic_proof = self._traffic(
                    before, self._hop_counts(targets))
            if isinstance(fault, HttpFault):
                event.removal_proof = self._remove_http(targets, event_id, event)
            else:
                event.removal_proof = self._remove(fault, targets, event_id)

    # instance faults -------------------------------------------------------
    def _wait_state(self, targets: list[str], wanted: set[InstanceState]) -> Proof:
        deadline = time.monotonic() + STATE_WAIT_S
        while True:
            states = {s.id: s.state for s in self.runtime.statuses() if s.id in targets}
            if all(states.get(t) in wanted for t in targets):
                return Proof(ok=True, detail="; ".join(f"{t}: {states[t]}" for t in targets))
            if time.monotonic() > deadline:
                seen = "; ".join(f"{t}: {states.get(t)}" for t in targets)
                return Proof(ok=False, detail=f"{seen} (wanted {'/'.join(sorted(wanted))})")
            time.sleep(0.05)

    def _apply(self, fault: Fault, spec: FaultSpec, targets: list[str], eid: str) -> Proof:
        gone = {InstanceState.EXITED, InstanceState.MISSING}
        if isinstance(fault, Kill | Terminate):
            for t in targets:
                (self.runtime.kill if isinstance(fault, Kill) else self.runtime.terminate)(t)
            return self._wait_state(targets, gone)
        if isinstance(fault, Pause):
            for t in targets:
                self.runtime.pause(t)
                self.paused.add(t)
            return self._wait_state(targets, {InstanceState.PAUSED})
        if isinstance(fault, Restart):
            for t in targets:
                self.runtime.restart(t, wait_healthy=False)
            return self._wait_state(targets, {InstanceState.RUNNING})
        client = self._client()
        if isinstance(fault, ProxyDown):
            for t in targets:
                client.disable_proxy(t)
            disabled = [t for t in targets if not client.proxy(t).enabled]
            return Proof(ok=disabled == targets,
                         detail=f"disabled proxies: {', '.join(disabled)}")
        assert isinstance(fault, Toxic)
        name = f"{TOXIC_PREFIX}-{eid}"
        for t in targets:
            client.add_toxic(t, fault.kind, fault.attributes(), stream=spec.stream,
                             toxicity=spec.toxicity, name=name)
        present = [t for t in targets if any(x.name == name for x in client.toxics(t))]
        return Proof(ok=present == targets,
                     detail=f"toxic {name} ({fault.kind} {fault.attributes()}, {spec.stream}, "
                            f"toxicity {spec.toxicity}) present on: {', '.join(present)}")

    def _remove(self, fault: Fault, targets: list[str], eid: str) -> Proof:
        try:
            if isinstance(fault, Kill | Terminate):
                if not fault.restart:
                    return Proof(ok=True, detail="left stopped (restart: false)")
                # All at once: one by one would stretch the outage by a start-up each.
                for t in targets:
                    self.runtime.restart(t, wait_healthy=False)
                return self._wait_state(targets, {InstanceState.RUNNING})
            if isinstance(fault, Pause):
                for t in targets:
                    self.runtime.resume(t)
                    self.paused.discard(t)
                return self._wait_state(targets, {InstanceState.RUNNING})
            if isinstance(fault, Restart):
                return self._wait_state(targets, {InstanceState.RUNNING})
            client = self._client()
            if isinstance(fault, ProxyDown):
                for t in targets:
                    client.enable_proxy(t)
                enabled = [t for t in targets if client.proxy(t).enabled]
                return Proof(ok=enabled == targets,
                             detail=f"enabled again: {', '.join(enabled)}")
            name = f"{TOXIC_PREFIX}-{eid}"
            for t in targets:
                client.remove_toxic(t, name)
            left = [t for t in targets if any(x.name == name for x in client.toxics(t))]
            still = f"; still on {', '.join(left)}" if left else ""
            return Proof(ok=not left,
                         detail=f"toxic {name} removed from: {', '.join(targets)}{still}")
        except ChaosError as exc:
            return Proof(ok=False, detail=f"removal failed: {exc}")

    # hop traffic -----------------------------------------------------------
    def _client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise FaultError("network faults need hop proxies; this stack was deployed "
                             "without them")
        return self.toxiproxy

    def _hop_counts(self, targets: list[str]) -> tuple[TrafficSource, dict[str, ProxyStats]]:
        """Each hop's counters: the server's own stats, else a real Toxiproxy's
        Prometheus proxy metrics, else nothing ("unavailable")."""
        client = self._client()
        stats = {t: client.stats(t) for t in targets}
        if all(s is not None for s in stats.values()):
            return "counters", {t: s for t, s in stats.items() if s is not None}
        metrics = client.metrics_bytes()
        if metrics is None:
            return "unavailable", {}
        return "metrics", {t: metrics.get(t, ProxyStats()) for t in targets}

    def _traffic(self, before: tuple[TrafficSource, dict[str, ProxyStats]] | None,
                 after: tuple[TrafficSource, dict[str, ProxyStats]]
                 ) -> tuple[dict[str, HopTraffic], TrafficProof]:
        """Connections and bytes through each faulted hop while the fault was on:
        the proof that the fault met live traffic, and where it came from."""
        url = self._client().url
        if before is None or before[0] != after[0] or after[0] == "unavailable":
            return {}, TrafficProof(source="unavailable", detail=(
                f"the Toxiproxy at {url} has no per-proxy stats and serves no proxy "
                "metrics (start it with -proxy-metrics): whether the fault met traffic "
                "is unknown"))
        out = {}
        for t, b in before[1].items():
            a = after[1].get(t, ProxyStats())
            out[t] = HopTraffic(connections=a.connections_total - b.connections_total,
                                bytes_upstream=a.bytes_upstream - b.bytes_upstream,
                                bytes_downstream=a.bytes_downstream - b.bytes_downstream)
        if after[0] == "counters":
            return out, TrafficProof(source="counters", detail="the proxy server's own stats")
        if not any(h.bytes_upstream or h.bytes_downstream for h in out.values()):
            # Toxiproxy adds a connection's bytes when it closes: kept-alive
            # connections through the whole fault never show. Zero proves nothing.
            return {}, TrafficProof(source="unavailable", detail=(
                f"Toxiproxy's proxy metrics at {url} moved by 0 bytes; they count a "
                "connection only when it closes, so traffic on connections kept alive "
                "through the fault is not seen"))
        return out, TrafficProof(source="metrics", detail=(
            f"Toxiproxy's Prometheus proxy metrics at {url} (bytes of the connections "
            "that closed while the fault was on; connections are not counted)"))

    # HTTP faults --------------------------------------------------------------
    def _layers(self) -> HttpFaultsClient:
        if self.layers is None:
            raise FaultError("HTTP faults need fault layers on the targets' hops; this stack "
                             "was deployed without them (the runner adds them for the "
                             "services an experiment's HTTP faults target)")
        return self.layers

    def _apply_http(self, fault: HttpFault, spec: FaultSpec, targets: list[str],
                    eid: str) -> Proof:
        layers = self._layers()
        rule = FaultRule(name=f"{TOXIC_PREFIX}-{eid}", type=fault.kind,
                         probability=spec.toxicity, match=spec.match or Selector(),
                         attributes=fault.model_dump())
        for t in targets:
            layers.add_fault(t, rule)
        present = [t for t in targets if any(f.name == rule.name for f in layers.layer(t).faults)]
        match = rule.match.model_dump(exclude_none=True) or "every request"
        return Proof(ok=present == targets,
                     detail=f"HTTP fault {rule.name} ({fault.kind} {fault.params()}, probability "
                            f"{rule.probability}, match {match}) present on the layers of: "
                            f"{', '.join(present)}")

    def _remove_http(self, targets: list[str], eid: str, event: FaultEvent) -> Proof:
        """Remove the rule from every layer; its final counters become the traffic proof."""
        name = f"{TOXIC_PREFIX}-{eid}"
        try:
            layers = self._layers()
            for t in targets:
                c = layers.remove_fault(t, name).counters
                event.http_traffic[t] = HttpFaultTraffic(
                    matched=c.matched, fired=c.fired, bytes_forwarded=c.bytes_forwarded)
            event.traffic_proof = TrafficProof(source="counters",
                                               detail="the fault layers' own counters")
            left = [t for t in targets if any(f.name == name for f in layers.layer(t).faults)]
        except ChaosError as exc:
            event.traffic_proof = TrafficProof(source="unavailable",
                                               detail=f"counters lost: {exc}")
            return Proof(ok=False, detail=f"removal failed: {exc}")
        still = f"; still on {', '.join(left)}" if left else ""
        return Proof(ok=not left, detail=f"HTTP fault {name} removed from: "
                                         f"{', '.join(targets)}{still}")

    def reset(self) -> None:
        """The last safety net: no toxic, every proxy enabled, nothing left paused."""
        for t in list(self.paused):
            with suppress(ChaosError):
                self.runtime.resume(t)
            self.paused.discard(t)
        if self.toxiproxy is not None:
            self.toxiproxy.reset()
        if self.layers is not None:
            self.layers.reset()
