"""The production-shaped run (tests/harness/production.py, scripts/production-smoke), driven
over https with a client that trusts only the certificate the run made: nginx -> gunicorn,
every process with APP_ENV=production reaching PostgreSQL through PgBouncer in transaction
pooling, one Celery pool per queue and beat as in the Procfile.

One person signs up and confirms; a donor gives through the fake Stripe's Checkout (its
webhooks signed and POSTed through nginx) and is thanked; a mailing scheduled for 2,000
supporters is sent in full by the mail pool; Finance exports the month through the back office
and the exports pool; Prometheus reads /metrics with its token.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone, translation

from backoffice.models import ExportJob, ExportState
from backoffice.roles import FINANCE
from campaign.models import ConsentText, Supporter
from campaign.services import consent_texts_ensure_defaults
from donations.models import Donation, Transaction
from mailing.models import Delivery
from mailing.services import mailing_schedule
from tests.factories import UserFactory
from tests.harness.processes import database_url_for_subprocess
from tests.harness.production import ProductionSystem
from tests.mailing.conftest import supporters_bulk
from tests.mailing.factories import MailingFactory
from tests.staff import verified_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("nginx") is None or shutil.which("pgbouncer") is None,
        reason="needs Debian's nginx and pgbouncer",
    ),
]

MAILING_SIZE = 2000


def eventually[T](check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()) is not None and value is not False:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} on the page"
    return match.group(1)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[ProductionSystem]:
    consent_texts_ensure_defaults()  # the migration's wording: transactional tests flush it
    running = ProductionSystem(
        tmp_path,
        database_url_for_subprocess(),
        django_settings.REDIS_URL,
        # Beat's mailing tick every second, so the test waits for sending, not for the clock.
        env_overrides={"MAILING_TICK_SECONDS": "1", "WEB_CONCURRENCY": "2"},
    ).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def https_client(system: ProductionSystem) -> requests.Session:
    session = requests.Session()
    session.verify = str(system.cert)  # this certificate, and nothing else, is trusted
    # No proxy or CA bundle from the environment (REQUESTS_CA_BUNDLE would replace the pin).
    session.trust_env = False
    return session


def post_form(session: requests.Session, url: str, data: dict[str, Any]) -> requests.Response:
    # Django checks the Referer of an https POST against the site: send it as a browser does.
    return session.post(url, data=data, headers={"Referer": url}, allow_redirects=False, timeout=30)


def test_a_production_shaped_run_over_https_through_pgbouncer(
    system: ProductionSystem, https_client: requests.Session, settings: Any
) -> None:
    site, browser = system.site_url, https_client

    # Sign-up and confirmation: the emailed link's page, then its button (a POST).
    email = f"smoke-{uuid.uuid4().hex[:10]}@voorbeeld.nl"
    body = {"email": email, "language": "nl", "topics": ["stories"], "consent": True}
    assert browser.post(f"{site}/api/signups", json=body, timeout=30).status_code == 202
    with translation.override("nl"):
        confirm_path = reverse("campaign:signup_confirm", kwargs={"token": "TOKEN"})
    link = re.compile(re.escape(site + confirm_path).replace("TOKEN", r"[^\s\"<>]+"))
    confirmation = eventually(
        lambda: next((m for m in system.smtp.messages if email in m.rcpt_tos), None),
        timeout=60,
        what="the confirmation email",
    )
    url = link.findall(confirmation.message.get_body(("plain",)).get_content())[0]
    page = browser.get(url, timeout=30)
    assert page.status_code == 200
    assert Supporter.objects.get(email=email).status != Supporter.Status.ACTIVE
    # The form the page shows: no CSRF token, the signed link is the credential.
    assert 'name="action" value="confirm"' in page.text
    confirmed = post_form(browser, url, {"action": "confirm"})
    assert confirmed.status_code == 200
    assert Supporter.objects.get(email=email).status == Supporter.Status.ACTIVE

    # A gift through Checkout; Stripe's signed webhooks come back through nginx.
    donor = f"gever-{uuid.uuid4().hex[:10]}@voorbeeld.nl"
    form = browser.get(f"{site}/doneer/", timeout=30).text
    donated = post_form(
        browser,
        f"{site}/doneer/",
        {
            "csrfmiddlewaretoken": hidden(form, "csrfmiddlewaretoken"),
            "form_token": hidden(form, "form_token"),
            "frequency": "one_off", "amount": "2500", "other_amount": "", "method": "ideal",
            "name": "Sanne de Vries", "email": donor, "website": "",
        },
    )  # fmt: skip
    assert donated.status_code == 303, donated.text[:2000]
    session_id = donated.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    system.stripe.complete_checkout(session_id, outcome="paid", method="ideal")
    donation = Donation.objects.get(donor_email=donor)
    gift = eventually(
        lambda: Transaction.objects.filter(donation=donation, kind="gift").first(),
        timeout=60,
        what="the gift in the ledger",
    )
    assert (gift.amount, gift.currency) == (2500, "eur")
    assert all(d.status == 200 for d in system.stripe.webhooks.deliveries)
    eventually(
        lambda: any(donor in m.rcpt_tos for m in system.smtp.messages),
        timeout=60,
        what="the thank-you email",
    )

    # A mailing scheduled for now goes to every consenting supporter through the mail pool.
    text = ConsentText.objects.filter(topic="stories", language="nl").latest("pk")
    bulk = set(
        Supporter.objects.filter(pk__in=supporters_bulk(MAILING_SIZE, text=text)).values_list(
            "email", flat=True
        )
    )
    expected = bulk | {email}  # the bulk, and the person who confirmed above
    mailing = MailingFactory(subject_nl="Rooktest in productievorm", subject_en="Smoke run")
    mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    sent = Delivery.objects.filter(message__mailing=mailing, state=Delivery.State.SENT)
    eventually(lambda: sent.count() == len(expected), timeout=120, what=f"{len(expected)} sends")
    subjects = ("Rooktest in productievorm", "Smoke run")
    received = [m for m in system.smtp.messages if m.message["Subject"] in subjects]
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(expected)

    # Finance exports the books over https; the exports pool writes the file.
    finance = UserFactory()
    finance.groups.add(Group.objects.get(name=FINANCE))
    # The session (and its auth hash) must be signed with the running system's own key.
    settings.SECRET_KEY = system.env["SECRET_KEY"]
    staff = verified_client(finance)
    browser.cookies.set(
        settings.SESSION_COOKIE_NAME, staff.cookies[settings.SESSION_COOKIE_NAME].value
    )
    exports = f"{site}/{settings.ADMIN_PATH}finance/exports/"
    today = timezone.localdate().isoformat()
    page = browser.get(exports, timeout=30)
    assert page.status_code == 200
    requested = post_form(
        browser,
        exports,
        {
            "csrfmiddlewaretoken": hidden(page.text, "csrfmiddlewaretoken"),
            "since": today, "until": today, "format": "csv", "dialect": "default",
        },
    )  # fmt: skip
    assert requested.status_code == 302
    job = ExportJob.objects.get()
    eventually(
        lambda: ExportJob.objects.filter(pk=job.pk, state=ExportState.DONE).exists(),
        timeout=60,
        what="the export",
    )
    download = browser.get(f"{exports}{job.pk}/download/", timeout=30)
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert [r for r in rows if donation.stripe_payment_intent in r.values()]

    # Prometheus: the token opens /metrics, nothing else does.
    token = system.env["METRICS_TOKEN"]
    assert browser.get(f"{site}/metrics", timeout=30).status_code == 404
    metrics = browser.get(
        f"{site}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert metrics.status_code == 200
    assert "survivors_" in metrics.text

    # All of it went through PgBouncer: its own count of transactions for this database.
    assert system.alive() == []
    assert pooled_transactions(system) > 1000


def pooled_transactions(system: ProductionSystem) -> int:
    """PgBouncer's own count for this database (its admin console speaks only the simple query
    protocol: psql, not psycopg)."""
    database = database_url_for_subprocess().rsplit("/", 1)[1]
    shown = subprocess.run(
        ["psql", "--csv", "-c", "SHOW STATS", system.bouncer.url("pgbouncer")],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    by_database = {row["database"]: row for row in csv.DictReader(io.StringIO(shown.stdout))}
    return int(by_database[database]["total_xact_count"])
