"""Requests that exercise each service, and a bounded request stream for kills."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

CHAT = {"messages": [{"role": "user", "content": "ping the gateway"}], "max_tokens": 4}
# Valid JSON that is not an object: every path must answer 422, never 500.
NON_OBJECT_BODIES = ("[]", '"x"', "1", "null")

# service → a request that needs it (method, path, json)
EXERCISE: dict[str, tuple[str, str, dict | None]] = {
    "auth": ("GET", "/v1/articles", None),
    "quota": ("GET", "/v1/articles", None),
    "users": ("GET", "/v1/identity/profile", None),
    "chat": ("POST", "/v1/chat/completions", CHAT),
    "models": ("POST", "/v1/chat/completions", CHAT),
    "inference": ("POST", "/v1/chat/completions", CHAT),
    "orders": ("GET", "/v1/orders", None),
    "articles": ("GET", "/v1/articles", None),
    "analytics": ("GET", "/v1/analytics/summary", None),
    "monitoring": ("GET", "/v1/articles", None),
}

STREAM_S = 2.0
MAX_REQUESTS = 2000
SENDERS = 4


@dataclass
class Outcome:
    status: int
    route: str | None
    instance: str | None
    gateway: str | None
    error: str | None = None


@dataclass
class StreamResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not 200 <= o.status < 300]

    def routes(self) -> set[str | None]:
        return {o.route for o in self.outcomes}


def send(client: httpx.Client, method: str, path: str, body: dict | None) -> Outcome:
    try:
        r = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        return Outcome(0, None, None, None, type(exc).__name__)
    return Outcome(r.status_code, r.headers.get("x-gatecrash-route"),
                   r.headers.get("x-gatecrash-instance"), r.headers.get("x-gatecrash-gateway"))


def stream_while(client: httpx.Client, request: tuple[str, str, dict | None],
                 action: Callable[[], None], *, before_s: float = 0.3,
                 total_s: float = STREAM_S, senders: int = SENDERS) -> StreamResult:
    """Send requests back to back from `senders` threads for `total_s`, running
    `action` after `before_s`. Several senders keep requests in flight on every
    replica, so a kill meets live requests (one sender can lose the race to the
    health check and never show a retry)."""
    result = StreamResult()
    stop = time.monotonic() + total_s
    fired = threading.Event()
    lock = threading.Lock()

    def fire() -> None:
        time.sleep(before_s)
        action()
        fired.set()

    def send_loop() -> None:
        while (time.monotonic() < stop or not fired.is_set()) and \
                len(result.outcomes) < MAX_REQUESTS:
            outcome = send(client, *request)
            with lock:
                result.outcomes.append(outcome)

    threads = [threading.Thread(target=fire)] + \
        [threading.Thread(target=send_loop) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def send_non_object_bodies(client: httpx.Client, paths: list[str]) -> dict[str, tuple[int, str]]:
    """Each of NON_OBJECT_BODIES posted as JSON to each path:
    `"path body"` -> (status, the gateway that answered)."""
    answers = {}
    for path in paths:
        for raw in NON_OBJECT_BODIES:
            r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
            answers[f"{path} {raw}"] = (r.status_code, r.headers.get("x-gatecrash-gateway", ""))
    return answers
