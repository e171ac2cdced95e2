"""The reference for webhook ingest: the physical minimum, one committed INSERT of the body."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def reference_ingest(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_reference (body) VALUES (%s)", [request.body.decode()])
    return HttpResponse("ok")


urlpatterns = [path("bench/reference/", reference_ingest), *product_urlpatterns]
