"""/demo/mailbox/: the demo's emails in the browser (config/demo_mailbox.py keeps them).

Answers 404 unless the run command set DEMO_MAILBOX_DIR, which production refuses.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_safe

from config.demo_mailbox import body_of, mailbox_list, mailbox_read

_LINK = re.compile(r"https?://[^\s<>\"')]+")
_HREF = re.compile(r'href="(https?://[^"]+)"')


def _directory() -> Path:
    if not settings.DEMO_MAILBOX_DIR:
        raise Http404
    return Path(settings.DEMO_MAILBOX_DIR)


@require_safe
def mailbox(request: HttpRequest) -> HttpResponse:
    return render(request, "demo_mailbox/list.html", {"mails": mailbox_list(_directory())})


@require_safe
def mail_detail(request: HttpRequest, name: str) -> HttpResponse:
    message = mailbox_read(_directory(), name)
    if message is None:
        raise Http404
    text = body_of(message, "plain")
    page = body_of(message, "html")
    links = list(
        dict.fromkeys(_LINK.findall(text) + [html.unescape(u) for u in _HREF.findall(page)])
    )
    context = {
        "name": name,
        "headers": list(message.items()),
        "subject": message.get("Subject", ""),
        "text": text,
        "has_html": bool(page),
        "links": links,
    }
    return render(request, "demo_mailbox/detail.html", context)


@require_safe
@xframe_options_sameorigin
@csp_override(
    {
        # The email's own HTML, shown in a frame of the detail page: its inline styles and
        # nothing that runs; links open in the whole window.
        "default-src": [CSP.NONE],
        "style-src": [CSP.UNSAFE_INLINE],
        "img-src": ["data:", "https:", CSP.SELF],
        "frame-ancestors": [CSP.SELF],
        "sandbox": ["allow-top-navigation-by-user-activation", "allow-popups"],
    }
)
def mail_html(request: HttpRequest, name: str) -> HttpResponse:
    message = mailbox_read(_directory(), name)
    if message is None:
        raise Http404
    page = body_of(message, "html")
    if not page:
        raise Http404
    return HttpResponse(page.replace("<head>", '<head><base target="_top">', 1))
