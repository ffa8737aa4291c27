"""Error answers: one JSON shape (OpenAI's) that says what is wrong."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse

__all__ = ["error_response"]


def error_response(status: int, message: str, code: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "service_unavailable"
    body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))
