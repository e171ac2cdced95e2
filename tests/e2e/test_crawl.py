"""The click-everything crawl (issue 15): the back office as each staff role and the public site,
in Dutch and English, in one headless Chromium against the live server.

Every page reachable from the sidebar and from the links on those pages is opened (one page of
each kind: ids and queries do not make a new kind), and the journeys (crawl_journeys.py) submit
every form and press every button with valid input: create, search, run each list action,
preview, test-send, schedule, pause/resume/cancel, export, summary, payouts, statements,
sign-up, preferences, data link, a gift through the local checkout. A page fails on a 5xx, raw
markup, English in the Dutch UI, an unstyled field or a serious accessibility violation
(tests/e2e/crawl.py); the test prints every problem of the run at once. Screenshots land in
test-artifacts/crawl/<who>-<language>/.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page

from backoffice.roles import ADMIN, FINANCE, MARKETING
from campaign.models import ConsentText, Story, Supporter, Topic
from donations.models import PayoutLine, TransactionKind
from mailing.models import Mailing, Segment
from tests import factories
from tests.backoffice.conftest import PASSWORD, admin_url, code_for
from tests.e2e.crawl import Crawler, with_axe
from tests.e2e.crawl_journeys import finance_journey, marketing_journey, public_journey
from tests.mailing import factories as mailing_factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(1200),  # the Admin's crawl opens ~200 pages on a busy machine
]

LANGUAGES = ("nl", "en")
# Links the crawl never follows: it logs out, or is a JSON/frame endpoint, not a page.
SKIP = (
    "/logout/",
    "/passkeys/",
    "/jsi18n/",
    "/autocomplete/",
    "/frame/",
    "/progress",
    "_popup=",
    "_to_field=",
    "/login/",
    "/r/",  # the admin's "view on site" shortcut: a redirect to the public site
)


def staff_page(path_and_query: str) -> bool:
    return path_and_query.startswith(admin_url()) and not any(s in path_and_query for s in SKIP)


@pytest.fixture
def world(settings: Any, tmp_path: Path) -> dict[str, Any]:
    """The demo's content plus a little of everything finance and marketing look at."""
    settings.BASE_DIR = tmp_path  # seed_demo keeps the demo admin's password under var/
    call_command("seed_demo", stdout=io.StringIO())
    # A database flushed by an earlier transactional test has lost the consent wording its
    # migration seeds; the demo's readers sign up with it.
    for topic in Topic.values:
        for language in ("nl", "en"):
            if not ConsentText.objects.filter(topic=topic, language=language).exists():
                factories.ConsentTextFactory(topic=topic, language=language)
    call_command("seed_demo_mailing", stdout=io.StringIO())
    texts = {t.topic: t for t in ConsentText.objects.filter(language="nl")}
    supporters = []
    for n, name in enumerate(("Noor", "Daan", "Sanne", "Milan")):
        person = factories.SupporterFactory(first_name=name, language=("nl", "en")[n % 2])
        factories.ConsentFactory(supporter=person, topic="stories", text=texts["stories"])
        supporters.append(person)
    recurring = factories.RecurringDonationFactory(
        amount=1500, donor_name="Noor de Vries", supporter=supporters[0]
    )
    now = timezone.now()
    for n, amount in enumerate((2500, 5000, 1000)):
        gift = factories.DonationFactory(
            amount=amount, donor_name="Daan Jansen", supporter=supporters[1]
        )
        factories.TransactionFactory(
            donation=gift,
            amount=amount,
            fee=29 + n,
            stripe_object=f"py_crawl_{n}",
            # The payout below settled these very balance transactions: it reconciles.
            stripe_balance_transaction=f"txn_crawl_{n}",
            occurred_at=now - timedelta(days=40 + n),
        )
        PayoutLine.objects.create(
            payout="po_crawl_1",
            balance_transaction=f"txn_crawl_{n}",
            type="charge",
            amount=amount,
            fee=29 + n,
            net=amount - 29 - n,
            currency="eur",
        )
    refund_of = factories.DonationFactory(amount=2000, donor_name="Sanne Bakker")
    factories.TransactionFactory(
        donation=refund_of, kind=TransactionKind.REFUND, amount=-2000, fee=0, net=-2000
    )
    factories.PeriodicGiftAgreementFactory(recurring=recurring, yearly_amount=18000)
    factories.AnnualStatementFactory()
    factories.StripeEventFactory()
    factories.DonorNoticeFactory(donation=refund_of)
    # A mailing that went out, with results to look at.
    story = Story.objects.published().first()
    segment = Segment.objects.first()
    sent = mailing_factories.MailingFactory(
        name="Oktober: Amira", story=story, segment=segment, state=Mailing.State.FINISHED
    )
    message = mailing_factories.MessageFactory(mailing=sent)
    for person in supporters:
        mailing_factories.DeliveryFactory(message=message, supporter=person, state="sent")
    mailing_factories.SuppressionFactory()
    return {"supporters": supporters, "recurring": recurring, "story": story}


def log_in(browser: Browser, base: str, role: str) -> Page:
    user = factories.UserFactory(email=f"{role.lower()}@savethechildren.example")
    user.set_password(PASSWORD)
    if role == ADMIN:
        user.is_superuser = True
    user.save()
    user.groups.add(Group.objects.get(name=role))
    device = TOTPDevice.objects.create(user=user, name="telefoon", confirmed=True)
    # bypass_csp: axe-core is injected inline, which the staff CSP (rightly) forbids.
    viewport = {"width": 1440, "height": 900}
    context = with_axe(browser.new_context(locale="nl-NL", viewport=viewport, bypass_csp=True))
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}{admin_url('login/')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", code_for(device))
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}{admin_url()}")
    return page


def in_language(page: Page, base: str, language: str) -> None:
    """The back office follows the language cookie (LocaleMiddleware), as its switcher sets."""
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}]
    )


def crawler(page: Page, base: str, who: str, language: str, artifacts_dir: Path) -> Crawler:
    folder = artifacts_dir / "crawl" / f"{who}-{language}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    for old in folder.glob("*.csv"):
        old.unlink()
    for old in folder.glob("*.xlsx"):
        old.unlink()
    return Crawler(page, base, who, language, folder, ignore=_user_content)


# Not interface text: role names are records (the groups), shown as they are called; a
# language is named in its own language in every picker ("English" on a Dutch page).
NAMES = {MARKETING, FINANCE, ADMIN, "English", "Nederlands"}
# The audit log shows each change's values as they were recorded (None, True, field names).
RECORDED = ("None", "True", "False")


def _user_content(text: str, url: str) -> bool:
    return text in NAMES or ("/auditlog/logentry/" in url and text in RECORDED)


def fail_on(problems: list[str]) -> None:
    assert problems == [], f"{len(problems)} problems, listed above"


@pytest.fixture
def smtp(smtp_server: Any) -> Any:
    return smtp_server


@pytest.mark.parametrize("role", [ADMIN, MARKETING, FINANCE])
def test_the_back_office_as_each_role_in_dutch_and_english(
    role: str,
    browser: Browser,
    live_server: Any,
    world: dict[str, Any],
    smtp: Any,
    artifacts_dir: Path,
    celery_worker: Callable[..., Any],
    settings: Any,
    tmp_path: Path,
) -> None:
    base = live_server.url
    if role in (ADMIN, FINANCE):
        # Finance's buttons start background work (exports, statements): a real worker does
        # it, writing files where this server reads them and mail to the test's SMTP server.
        settings.EXPORT_FILES_ROOT = tmp_path / "exports"
        celery_worker(EXPORT_FILES_ROOT=str(settings.EXPORT_FILES_ROOT), EMAIL_URL=smtp.url)
    page = log_in(browser, base, role)
    crawls: list[Crawler] = []
    try:
        for language in LANGUAGES:
            in_language(page, base, language)
            crawl = crawler(page, base, role.lower(), language, artifacts_dir)
            crawls.append(crawl)
            crawl.crawl([admin_url()], within=staff_page)
            if role in (ADMIN, MARKETING):
                marketing_journey(crawl, world, smtp)
            if role in (ADMIN, FINANCE):
                finance_journey(crawl, world)
    finally:
        page.context.close()
        problems = [p for crawl in crawls for p in crawl.report()]
        visited = sum(len(crawl.visited) for crawl in crawls)
        print(*problems, sep="\n")
        for crawl in crawls:
            spent = {k: round(v, 1) for k, v in crawl.seconds.items()}
            print(f"{crawl.who}/{crawl.language}: {len(crawl.visited)} pages, seconds {spent}")
    print(f"{role}: {visited} pages, axe on {sum(len(c.axe_checked) for c in crawls)}")
    assert visited > 20  # not vacuous: the sidebar's pages at least
    fail_on(problems)


def test_the_public_site_in_dutch_and_english(
    browser: Browser,
    live_server: Any,
    world: dict[str, Any],
    fake_stripe: Any,
    webhook_target: Any,
    artifacts_dir: Path,
    settings: Any,
) -> None:
    base = live_server.url
    settings.SITE_URL = base  # Checkout's return address: the thank-you page on this server
    webhook_target(f"{base}/stripe/webhook/")
    crawls: list[Crawler] = []
    try:
        for language in LANGUAGES:
            context = with_axe(
                browser.new_context(
                    locale="nl-NL" if language == "nl" else "en-GB",
                    viewport={"width": 1280, "height": 900},
                    bypass_csp=True,
                )
            )
            context.set_default_timeout(15_000)
            crawl = crawler(context.new_page(), base, "supporter", language, artifacts_dir)
            crawls.append(crawl)
            english = language == "en"

            def public(path_and_query: str, english: bool = english) -> bool:
                return (
                    not path_and_query.startswith((admin_url(), "/api/", "/static/", "/demo/"))
                    and path_and_query.startswith("/en/") == english
                    and not path_and_query.startswith(("/u/", "/r/", "/stripe/"))
                )

            try:
                crawl.crawl(["/en/" if english else "/"], within=public, limit=40)
                public_journey(crawl, world, fake_stripe)
            finally:
                context.close()
    finally:
        problems = [p for crawl in crawls for p in crawl.report()]
        print(*problems, sep="\n")
    assert Supporter.objects.filter(email__startswith="crawl-").count() == 2
    fail_on(problems)
