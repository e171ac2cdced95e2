"""The JSON API under /api/, its OpenAPI schema at /api/openapi.json.

django-ninja: the request and response models are typed (pydantic) and the OpenAPI schema is
generated from the same classes mypy checks; it is small and adds no second framework next to
Django's own views and forms (validation stays in Django forms, shared with the HTML pages).
Each app adds its router here.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from campaign.api import router as supporters_router

api = NinjaAPI(
    title="Save the Survivors API",
    version="1.0.0",
    description="Sign-up with double opt-in for Save the Children's Save the Survivors campaign.",
    openapi_url="/openapi.json",
    # The interactive docs load scripts from a CDN, which our Content-Security-Policy forbids.
    docs_url=None,
    urls_namespace="api",
)
api.add_router("/", supporters_router)


def _errors(message: str, status: int) -> JsonResponse:
    return JsonResponse({"errors": {"__all__": [message]}}, status=status)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _errors(str(exc), exc.status_code)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [part for part in error.get("loc", []) if part not in {"body", "query", "path"}]
        errors.setdefault(str(location[-1]) if location else "__all__", []).append(
            _("Enter a valid value.")
        )
    return JsonResponse({"errors": errors}, status=422)
