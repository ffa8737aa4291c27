"""HTTP and LLM-stream faults: small values holding their own parameters (DESIGN.md §8).

Toxiproxy's shape, one level up the stack: each fault is registered by its wire
name and holds only its own parameters, named with their units; what every
fault shares (its name, probability, request selector) lives once in
`FaultRule`, the wrapper the control API takes. A rule also carries the
counters that prove it met traffic (`FaultCounters`).

Events, for the stream faults, are the SSE `data:` events that carry content
(a role-only opening event or a usage event is forwarded but not counted), so
`after_events: 3` means the client sees exactly three content chunks.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chaos.errors import ChaosError

__all__ = [
    "HTTP_FAULTS",
    "Abort",
    "FaultCounters",
    "FaultRule",
    "FirstByteDelay",
    "Flap",
    "HttpError",
    "HttpFault",
    "HttpFaultError",
    "MalformedEvent",
    "RequestInfo",
    "Selector",
    "StreamCut",
    "StreamErrorEvent",
    "StreamFault",
    "StreamStall",
    "parse_http_fault",
]

DEFAULT_ERROR_BODY = '{"error": {"message": "injected by gatecrash", "type": "server_error"}}'
DEFAULT_STREAM_ERROR = "upstream failed mid-stream (injected by gatecrash)"
MALFORMED_PAYLOAD = b'{"choices": [{"delta": {"content": "cut'
MIN_FLAP_PERIOD_MS = 10


class HttpFaultError(ChaosError):
    """An HTTP fault or rule could not be parsed."""


class HttpFault(BaseModel):
    """A fault's own parameters; `params()` is what the run record keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str]
    scope: ClassVar[Literal["hop"]] = "hop"

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)  # unset options are not recorded


class HttpError(HttpFault):
    """Answer with this status and body instead of forwarding the request."""

    kind = "http_error"
    status: int = Field(503, ge=400, le=599)
    body: str = DEFAULT_ERROR_BODY
    # Sent as `Retry-After` when set (e.g. with 429 or 503).
    retry_after_s: int | None = Field(None, ge=0)


class Abort(HttpFault):
    """Reset the connection (RST) once the request is read, before any response."""

    kind = "abort"


class FirstByteDelay(HttpFault):
    """Hold the request this long before forwarding it: the answer's first byte, and
    a stream's first token (TTFT), come that much later."""

    kind = "first_byte_delay"
    delay_ms: int = Field(1000, ge=0)


class StreamFault(HttpFault):
    """A fault acting inside an SSE answer, after `after_events` content events."""

    after_events: int = Field(0, ge=0)


class StreamCut(StreamFault):
    """Close the connection after `after_events` content events (or `after_bytes` bytes
    of the answer's body when given), with no `[DONE]` and no end of the body."""

    kind = "stream_cut"
    after_bytes: int | None = Field(None, ge=0)


class StreamStall(StreamFault):
    """Stop forwarding, connection kept open, for `stall_ms` (0: until the client
    leaves or the fault is removed, which then closes the connection)."""

    kind = "stream_stall"
    stall_ms: int = Field(0, ge=0)


class StreamErrorEvent(StreamFault):
    """Send an OpenAI-style `data: {"error": ...}` event, then end the body cleanly."""

    kind = "stream_error_event"
    message: str = DEFAULT_STREAM_ERROR
    code: int = Field(500, ge=400, le=599)

    def event(self) -> bytes:
        error = {"error": {"message": self.message, "type": "server_error",
                           "code": self.code}}
        return b"data: " + json.dumps(error).encode() + b"\n\n"


class MalformedEvent(StreamFault):
    """Send one `data:` event that is not JSON, then go on with the stream."""

    kind = "malformed_event"

    @staticmethod
    def event() -> bytes:
        return b"data: " + MALFORMED_PAYLOAD + b"\n\n"


class Flap(HttpFault):
    """Another fault switched on for `on_ms` of every `period_ms` (a flapping primary);
    on first for `on_ms` from the moment the rule is added."""

    kind = "flap"
    fault: str
    fault_params: dict[str, Any] = Field(default_factory=dict)
    period_ms: int = Field(2000, ge=MIN_FLAP_PERIOD_MS)
    on_ms: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _inner_is_valid(self) -> Flap:
        if self.fault == self.kind:
            raise ValueError("flap: the flapping fault cannot be a flap")
        self.inner()
        if self.on_ms is not None and self.on_ms > self.period_ms:
            raise ValueError(f"flap: on_ms ({self.on_ms}) is longer than period_ms "
                             f"({self.period_ms})")
        return self

    def inner(self) -> HttpFault:
        try:
            return parse_http_fault(self.fault, self.fault_params)
        except HttpFaultError as exc:
            raise ValueError(str(exc)) from None

    def params(self) -> dict[str, Any]:
        # The record keeps flat values: the inner fault's parameters as JSON text.
        return {"fault": self.fault,
                "fault_params": json.dumps(self.fault_params, sort_keys=True),
                "period_ms": self.period_ms, "on_ms": self.on_ms_or_half}

    @property
    def on_ms_or_half(self) -> int:
        return self.period_ms // 2 if self.on_ms is None else self.on_ms

    def is_on(self, elapsed_s: float) -> bool:
        return (elapsed_s * 1000) % self.period_ms < self.on_ms_or_half


HTTP_FAULTS: dict[str, type[HttpFault]] = {
    cls.kind: cls
    for cls in (HttpError, Abort, FirstByteDelay, StreamCut, StreamStall, StreamErrorEvent,
                MalformedEvent, Flap)
}


def parse_http_fault(kind: str, params: dict[str, Any] | None = None) -> HttpFault:
    cls = HTTP_FAULTS.get(kind)
    if cls is None:
        raise HttpFaultError(f"unknown HTTP fault {kind!r}; allowed: "
                             f"{', '.join(sorted(HTTP_FAULTS))}")
    params = params or {}
    unknown = set(params) - set(cls.model_fields)
    if unknown:
        raise HttpFaultError(f"fault {kind}: unknown parameter(s) {', '.join(sorted(unknown))}"
                             f"; allowed: {', '.join(sorted(cls.model_fields)) or 'none'}")
    try:
        return cls.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(parameters)"
        raise HttpFaultError(f"fault {kind}: {where}: {first['msg'].removeprefix('Value error, ')}"
                             ) from None


# -- the wrapper ----------------------------------------------------------------
class RequestInfo:
    """What a selector may look at: method and path always; the chat body's
    `model` and `stream` only when some rule asks (the body is parsed once)."""

    __slots__ = ("_json", "body", "method", "path")

    def __init__(self, method: str, path: str, body: bytes) -> None:
        self.method = method
        self.path = path
        self.body = body
        self._json: dict[str, Any] | None = None

    def field(self, name: str) -> Any:
        if self._json is None:
            try:
                parsed = json.loads(self.body) if self.body else {}
            except ValueError:
                parsed = {}
            self._json = parsed if isinstance(parsed, dict) else {}
        return self._json.get(name)


class Selector(BaseModel):
    """Which requests a rule applies to; an absent field matches everything.
    `path` is a glob (`/v1/chat/*`); `model` and `stream` read the JSON body."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    method: str | None = None
    path: str | None = None
    model: str | None = None
    stream: bool | None = None

    def matches(self, request: RequestInfo) -> bool:
        if self.method is not None and request.method.upper() != self.method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(request.path, self.path):
            return False
        if self.model is not None and request.field("model") != self.model:
            return False
        return self.stream is None or bool(request.field("stream")) == self.stream


class FaultCounters(BaseModel):
    """The proof a rule met traffic: requests its selector matched, the times it
    fired, and the answer bytes forwarded to the client for matched requests."""

    model_config = ConfigDict(extra="forbid")
    matched: int = 0
    fired: int = 0
    bytes_forwarded: int = 0


Probability = Annotated[float, Field(ge=0, le=1)]


class FaultRule(BaseModel):
    """One fault on one layer, as the control API takes and shows it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    type: str
    probability: Probability = 1.0
    match: Selector = Selector()
    attributes: dict[str, Any] = Field(default_factory=dict)
    counters: FaultCounters = Field(default_factory=FaultCounters)

    @model_validator(mode="after")
    def _known(self) -> FaultRule:
        try:
            self.fault()
        except HttpFaultError as exc:
            raise ValueError(str(exc)) from None
        return self

    def fault(self) -> HttpFault:
        return parse_http_fault(self.type, self.attributes)
