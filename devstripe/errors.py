"""Stripe's JSON error shape: {"error": {"type", "message", "code", "param", "doc_url"}}."""

from __future__ import annotations

from typing import Any


class StripeAPIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = (
            f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"  # never fetched
        )
        error["type"] = self.type
        error.update(self.extra)
        return {"error": error}


def no_such(object_name: str, object_id: str, param: str = "id") -> StripeAPIError:
    return StripeAPIError(
        404, f"No such {object_name}: '{object_id}'", code="resource_missing", param=param
    )


def unknown_param(name: str) -> StripeAPIError:
    return StripeAPIError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )


def missing_param(name: str) -> StripeAPIError:
    return StripeAPIError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name
    )


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeAPIError:
    return StripeAPIError(400, message, code=code, param=param)


def unrecognized_url(method: str, path: str) -> StripeAPIError:
    return StripeAPIError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )
