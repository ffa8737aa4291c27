"""Locust users: closed loop (think time) and open loop (fixed arrival schedule).

Imported only inside the Locust process (through the locustfile). Both users
draw each request from the spec's mix (identity, business, chat; see
`loadtests.plans`) and send it with FastHttpUser's client; the recorder gets
one row per request through Locust's `events.request`, with the fields Locust
does not know (domain, endpoint, intended send time, stream metrics) in the
request `context`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import gevent
from geventhttpclient._parser import HTTPParseError
from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession, FastResponse
from locust.env import Environment

from loadtests.agent import state
from loadtests.entries import ENTRY_ATTR, FAILOVER_ATTR, EntryPool, fails_over
from loadtests.metrics import MS, StreamMetrics, stream_metrics
from loadtests.plans import RequestPlan, plan_request, user_rng
from loadtests.shapes import Slot
from loadtests.streaming import (
    StreamCut,
    StreamOutcome,
    StreamProtocolError,
    StreamStalled,
    completion_tokens,
    consume_sse,
)

__all__ = ["ClosedLoopUser", "FailoverSession", "GatecrashUser", "OpenLoopUser"]

# Connect fails fast: a dead replica must show up as `connect`, not eat the deadline.
CONNECT_TIMEOUT_S = 3.0
SSE_LINE_END = b"\n"
SSE_CONTENT_TYPE = "text/event-stream"
# After the schedule ends a pool user idles until Locust stops it (at -t).
IDLE_POLL_S = 1.0


def _sse_lines(raw: Any, timer: gevent.Timeout) -> Iterator[bytes]:
    """Lines as soon as each arrives (geventhttpclient's readline does not wait for a block)."""
    while True:
        try:
            line = raw.readline(SSE_LINE_END)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise StreamStalled("request deadline reached mid-stream") from exc
        except HTTPParseError as exc:  # incl. HTTPConnectionClosed: EOF inside a chunk
            raise StreamCut(f"connection closed mid-stream: {exc!r}") from exc
        if not line:
            return
        yield line


def _record_whole_answer(resp: Any, body: bytes, elapsed_ms: float) -> None:
    """Tokens and E2E of a non-streamed chat answer into the request's context."""
    meta = resp.request_meta
    meta["response_time"] = elapsed_ms
    meta["response_length"] = len(body)
    try:
        meta["context"]["tokens_out"] = completion_tokens(body)
    except StreamProtocolError as exc:
        resp.failure(exc)
        return
    meta["context"]["stream_metrics"] = StreamMetrics(e2e_ms=elapsed_ms)


def _drain(raw: Any) -> None:
    """Read the rest after [DONE] so the keep-alive connection can be reused."""
    # The answer is complete either way; a failed drain costs only the connection.
    with contextlib.suppress(OSError, HTTPParseError, gevent.Timeout):
        raw.read()


def _failed_before_answer(resp: FastResponse) -> bool:
    """No status at all (Locust's stand-in response), for a reason another entry may not share."""
    return resp.status_code == 0 and fails_over(getattr(resp, "error", None))


class FailoverSession(FastHttpSession):
    """Locust's session over the stack's entry points (loadtests.entries).

    Every send goes to the user's entry, and once more to the next entry when it
    failed before any response. Locust times the request around this method, so
    the row's latency includes the failed try; the entry that gave the final
    answer and whether it failed over are written on the response for the
    recorder.
    """

    def __init__(self, *args: Any, entries: EntryPool, home: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries = entries
        self.home = home

    def _send_request_safe_mode(self, method: str, url: str, **kwargs: Any) -> FastResponse:
        # Users send paths: Locust has prefixed the host (the first entry).
        path = url.removeprefix(self.base_url or "")
        first, second = self.entries.plan(self.home)
        entry, failover = first, False
        resp = super()._send_request_safe_mode(method, first.url + path, **kwargs)
        if second is not None and _failed_before_answer(resp):
            self.entries.failed(first)
            entry, failover = second, True
            resp = super()._send_request_safe_mode(method, second.url + path, **kwargs)
            if _failed_before_answer(resp):
                self.entries.failed(second)
        setattr(resp, ENTRY_ATTR, entry.name)
        setattr(resp, FAILOVER_ATTR, failover)
        return resp


class GatecrashUser(FastHttpUser):
    abstract = True

    def __init__(self, environment: Environment) -> None:
        st = state()
        spec = st.spec
        # FastHttpUser reads these at init; the per-request deadline is a gevent
        # timer (below), so the socket timeout only has to cover the longest one.
        self.network_timeout = max(spec.request_timeout_s, spec.chat.timeout_s)
        self.connection_timeout = min(CONNECT_TIMEOUT_S, spec.request_timeout_s)
        super().__init__(environment)
        self.st = st
        self.spec = spec
        user_index = st.next_user_index()
        self.rng = user_rng(spec.seed, st.worker_index, user_index)
        if st.entries is not None:
            # Users spread over the entry points (across processes too).
            self.client = self._failover_session(
                st.entries, home=st.worker_index + user_index - 1)
        self.auth = {"Authorization": f"Bearer {st.api_key}"}

    def _failover_session(self, entries: EntryPool, home: int) -> FailoverSession:
        """The session FastHttpUser makes, with the same settings, over every entry."""
        return FailoverSession(
            base_url=self.host, request_event=self.environment.events.request, user=self,
            insecure=self.insecure, client_pool=self.client_pool,
            ssl_context_factory=self.ssl_context_factory,
            network_timeout=self.network_timeout, connection_timeout=self.connection_timeout,
            max_redirects=self.max_redirects, max_retries=self.max_retries,
            concurrency=self.concurrency, headers=self.default_headers,
            proxy_host=self.proxy_host, proxy_port=self.proxy_port,
            entries=entries, home=home)

    def next_plan(self, stage: int = 0) -> RequestPlan:
        return plan_request(self.st.pickers[stage].pick(self.rng), self.spec, self.rng)

    def send(self, plan: RequestPlan, ts_intended: float | None = None) -> None:
        ctx: dict[str, Any] = {
            "domain": plan.domain, "endpoint": plan.endpoint,
            "ts_intended": ts_intended, "stream": plan.stream,
        }
        headers = self.auth if plan.headers is None else {**self.auth, **plan.headers}
        timer = gevent.Timeout(plan.timeout_s)
        timer.start()
        try:
            if plan.stream:
                self._send_stream(plan, headers, ctx, timer)
            elif plan.domain == "chat":
                self._send_chat_whole(plan, headers, ctx)
            else:
                self.client.request(plan.method, plan.path, name=plan.endpoint, json=plan.body,
                                    headers=headers, context=ctx)
        except gevent.Timeout as exc:
            # Locust's client turns a deadline inside the request into a failed row;
            # one firing after that (in our own bookkeeping) has nothing left to record.
            if exc is not timer:
                raise
        finally:
            timer.close()

    def _send_chat_whole(self, plan: RequestPlan, headers: dict[str, str],
                         ctx: dict[str, Any]) -> None:
        with self.client.request(plan.method, plan.path, name=plan.endpoint, json=plan.body,
                                 headers=headers, context=ctx, catch_response=True) as resp:
            if 200 <= resp.status_code < 300 and resp.content:
                _record_whole_answer(resp, resp.content, resp.request_meta["response_time"])

    def _send_stream(self, plan: RequestPlan, headers: dict[str, str], ctx: dict[str, Any],
                     timer: gevent.Timeout) -> None:
        t_send = time.perf_counter()
        with self.client.request(plan.method, plan.path, name=plan.endpoint, json=plan.body,
                                 headers=headers, context=ctx, stream=True,
                                 catch_response=True) as resp:
            raw = getattr(resp, "_response", None)
            if (not 200 <= resp.status_code < 300 or getattr(resp, "error", None) is not None
                    or raw is None):
                return  # Locust's default outcome: status / transport error
            if not str(resp.headers.get("content-type") or "").startswith(SSE_CONTENT_TYPE):
                # A whole JSON answer to a stream request (e.g. a fallback): not a cut.
                try:
                    body = raw.read()
                except (OSError, HTTPParseError) as exc:
                    resp.failure(exc)
                    return
                except gevent.Timeout as exc:
                    if exc is not timer:
                        raise
                    resp.failure(TimeoutError("request deadline reached reading the answer"))
                    return
                _record_whole_answer(resp, body, (time.perf_counter() - t_send) * MS)
                return
            try:
                outcome = consume_sse(_sse_lines(raw, timer), clock=time.perf_counter)
            except gevent.Timeout as exc:
                # The deadline hit between two reads (while parsing): still a row.
                if exc is not timer:
                    raise
                outcome = StreamOutcome(error=StreamStalled("request deadline reached mid-stream"))
            t_end = time.perf_counter()
            if outcome.done:
                _drain(raw)
            meta = resp.request_meta
            meta["response_time"] = (t_end - t_send) * MS
            meta["response_length"] = outcome.bytes_read
            meta["context"]["stream_metrics"] = stream_metrics(
                t_send, outcome.chunk_times, outcome.tokens)
            meta["context"]["tokens_out"] = outcome.tokens
            if outcome.error is not None:
                resp.failure(outcome.error)
            else:
                resp.success()


class ClosedLoopUser(GatecrashUser):
    """Sends, waits for the answer, thinks (wait_min_s..wait_max_s), repeats."""

    def wait_time(self) -> float:
        return self.rng.uniform(self.spec.wait_min_s, self.spec.wait_max_s)

    @task
    def one_request(self) -> None:
        self.send(self.next_plan())


class OpenLoopUser(GatecrashUser):
    """A pool member: takes the next scheduled arrival, sleeps until it is due, sends it.

    Claiming happens in `wait_time`, so a pool user waiting for its slot is in
    Locust's *waiting* state and is stopped at once at the end of the run.
    """

    _slot: Slot | None = None

    def wait_time(self) -> float:
        self._slot = self.st.schedule.claim(time.time())
        if self._slot is None:
            return IDLE_POLL_S
        return max(0.0, self._slot.ts_intended - time.time())

    @task
    def one_request(self) -> None:
        slot, self._slot = self._slot, None
        if slot is None:  # first iteration (nothing claimed yet) or schedule over
            slot = self.st.schedule.claim(time.time())
            if slot is None:
                return
        try:
            # gevent's timer may wake a hair early; never send before the intended time.
            while (delay := slot.ts_intended - time.time()) > 0:
                gevent.sleep(delay)
            self.send(self.next_plan(slot.stage), ts_intended=slot.ts_intended)
        finally:
            self.st.schedule.complete(slot)
