"""The wrapper around a toxic value: its shared fields and its JSON wire form.

Upstream's ``ToxicWrapper``: every toxic, whatever its type, has a name, a
type, a stream and a toxicity; its own parameters are the ``attributes``,
held by a value from :mod:`chaos.toxiproxy.toxics`. This module validates
the JSON bodies that create (``POST /proxies/{proxy}/toxics``) and update
(``/proxies/{proxy}/toxics/{toxic}``) a :class:`Toxic`, with upstream's
defaults and error messages, and turns a :class:`Toxic` back into JSON.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

from chaos.errors import ToxiproxyError
from chaos.toxiproxy.toxics import TOXICS, Slicer, ToxicKind

__all__ = ["Stream", "Toxic", "parse_toxic", "update_toxic"]

DEFAULT_STREAM = "downstream"
DEFAULT_TOXICITY = 1.0


class Stream(enum.StrEnum):
    """Link direction: ``upstream`` is client -> server, ``downstream`` server -> client."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclasses.dataclass(slots=True)
class Toxic:
    """Upstream's ``ToxicWrapper``: the shared fields around one toxic value."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    kind: ToxicKind

    def attributes(self) -> dict[str, Any]:
        return {
            f.metadata["wire"]: getattr(self.kind, f.name)
            for f in dataclasses.fields(self.kind)  # type: ignore[arg-type]
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": self.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": str(self.stream),
            "toxicity": self.toxicity,
        }


def _bad(message: str) -> ToxiproxyError:
    return ToxiproxyError(400, f"bad request body: {message}")


def _parse_kind(wire_type: str, attributes: Mapping[str, Any], base: Any = None) -> ToxicKind:
    """Build a toxic value from wire attributes, on top of ``base``'s values if given."""
    cls = TOXICS[wire_type]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        wire = f.metadata["wire"]
        if wire not in attributes:
            if base is not None:
                values[f.name] = getattr(base, f.name)
            continue
        value = attributes[wire]
        # JSON numbers: upstream decodes into Go ints; accept integral floats too.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f"attribute {wire!r} of {wire_type} must be an integer, got {value!r}")
        if value < 0:
            raise _bad(f"attribute {wire!r} of {wire_type} must be >= 0, got {value}")
        values[f.name] = value
    kind = cls(**values)
    if isinstance(kind, Slicer) and kind.average_size < 1:
        raise _bad("attribute 'average_size' of slicer must be >= 1")
    return kind


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _bad(f"toxicity must be a number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise _bad(f"toxicity must be between 0 and 1, got {value}")
    return float(value)


def _attributes(body: Mapping[str, Any]) -> Mapping[str, Any]:
    attributes = body.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise _bad(f"attributes must be an object, got {attributes!r}")
    return attributes


def _string(body: Mapping[str, Any], key: str, default: str) -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string, got {value!r}")
    return value


def parse_toxic(body: Any) -> Toxic:
    """Validate a ``POST /proxies/{proxy}/toxics`` body, with upstream's defaults and errors."""
    if not isinstance(body, Mapping):
        raise _bad("expected a JSON object")
    stream_name = _string(body, "stream", DEFAULT_STREAM).lower()
    try:
        stream = Stream(stream_name)
    except ValueError:
        raise ToxiproxyError(
            400, "stream was invalid, can be either upstream or downstream"
        ) from None
    wire_type = _string(body, "type", "")
    name = _string(body, "name", "") or f"{wire_type}_{stream}"
    if wire_type not in TOXICS:
        raise ToxiproxyError(400, "invalid toxic type")
    toxicity = _toxicity(body.get("toxicity", DEFAULT_TOXICITY))
    kind = _parse_kind(wire_type, _attributes(body))
    return Toxic(name=name, type=wire_type, stream=stream, toxicity=toxicity, kind=kind)


def update_toxic(toxic: Toxic, body: Any) -> Toxic:
    """Apply a toxic update: attributes merge over the current ones, toxicity replaces.

    Name, type and stream cannot change (upstream ignores them too).
    """
    if not isinstance(body, Mapping):
        raise _bad("expected a JSON object")
    toxicity = _toxicity(body.get("toxicity", toxic.toxicity))
    kind = _parse_kind(toxic.type, _attributes(body), base=toxic.kind)
    return dataclasses.replace(toxic, toxicity=toxicity, kind=kind)
