"""Request bodies: every JSON body of the public API is an object, checked here.

One function for every path (gateways, the router's fallbacks, the services),
so a body such as `[]`, `"x"`, `1` or `null` is refused with the same 422
everywhere instead of reaching code that calls `.get` on it.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from targets.problems import error_response

__all__ = ["Rejected", "first_error", "json_object", "parse_model"]

Model = TypeVar("Model", bound=BaseModel)


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


def first_error(exc: ValidationError) -> str:
    """`where: what` of the first validation error, for a one-line 422."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def parse_model(body: bytes, model: type[Model]) -> Model:
    """The body parsed and checked in one pass (JSON straight into the model);
    a 422 `Rejected` naming the first error otherwise."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise Rejected(422, first_error(exc), "invalid_schema") from None
