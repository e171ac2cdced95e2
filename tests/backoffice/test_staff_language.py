"""The back office speaks the language its language cookie names, Dutch without one: its URLs
carry no language, and LocaleMiddleware alone gave every unprefixed path Dutch."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from backoffice.roles import FINANCE
from tests.backoffice.conftest import admin_url
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("cookie", "title", "language"),
    [
        (None, "Maandoverzicht", "nl"),
        ("en", "Monthly summary", "en"),
        ("nl", "Maandoverzicht", "nl"),
        ("de", "Maandoverzicht", "nl"),  # not one of ours: the default
    ],
)
def test_a_staff_page_follows_the_language_cookie(
    make_staff: Any, cookie: str | None, title: str, language: str
) -> None:
    client = verified_client(make_staff(FINANCE))
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie
    # A browser asking for English does not switch the back office: only the cookie does.
    answer = client.get(admin_url("finance/summary/"), HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert f"<title>{title}" in page or f">{title}<" in page
    assert f'lang="{language}"' in page


def test_the_public_site_keeps_its_language_in_the_url(client: Any) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert 'lang="nl"' in client.get("/").content.decode()
