"""Request bodies: every JSON body of the public API is an object, checked here.

One function for every path (gateways, the router's fallbacks, the services),
so a body such as `[]`, `"x"`, `1` or `null` is refused with the same 422
everywhere instead of reaching code that calls `.get` on it.
"""

from __future__ import annotations

import json
from typing import Any

from targets.problems import error_response

__all__ = ["Rejected", "json_object"]


class Rejected(Exception):
    """A request refused at the edge; `response` says why."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.response = error_response(status, message, code)


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`); a 422 `Rejected` otherwise."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:  # also bytes that are not UTF-8
        raise Rejected(422, "body is not valid JSON", "invalid_json") from None
    if not isinstance(payload, dict):
        raise Rejected(422, f"body must be a JSON object, not {_json_type(payload)}",
                       "invalid_schema")
    return payload


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
