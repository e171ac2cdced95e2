"""The newcomer's journey (issue 15): a fresh clone, the README's `make run`, and Chromium alone.

Sign up on the public site, confirm from the demo mailbox, get the welcome story; give once
(iDEAL) and monthly through the local checkout, see the paid thank-you pages and the thank-you
emails; log in as marketing and as finance with the logins the run command prints and find
rows on every page of their menus. Every expectation is what the demo promises a newcomer
(README, mailing/demo.py's welcome step, donations' thank-you subject), not what the code
happened to do. Screenshots of each step are kept in test-artifacts/newcomer/.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django_otp.oath import totp

from config.embedded import free_port
from tests.ops.test_run_command import THANKS_SUBJECT, _ctrl_c, _fresh_clone, _start, clone

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1800)]
__all__ = ["clone"]  # the fixture, shared with the run-command test

EMAIL = "nieuwkomer@example.org"
CONFIRM_SUBJECT = "Bevestig je aanmelding bij Save the Survivors"  # the Dutch catalog
WELCOME_SUBJECT = "Welkom! Dit is het verhaal van Amira"  # the welcome sequence's first step
SEED_BUDGET_S = 600  # months of gifts and the mailing's readers, on a loaded machine
# The account menu and the site's own links are no menu pages with data.
NOT_MENU = ("logout", "password_change", "security", "/staff/#", "jsi18n")


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


class Newcomer:
    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots = page, base, shots
        self.step = 0

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"), full_page=True)
        # A full-page screenshot leaves Chromium's scroll state off: without this, the next
        # click on a button far down the page can land beside it.
        self.page.evaluate("window.scrollTo(0, 0)")

    def go(self, path: str) -> None:
        response = self.page.goto(path if path.startswith("http") else self.base + path)
        assert response is not None, path
        assert response.status < 400, (path, response.status)

    def mail_row(self, subject: str) -> Any:
        return self.page.locator("table.mailbox-table tbody tr", has_text=subject).filter(
            has_text=EMAIL
        )

    def wait_for_mail(self, subject: str, count: int = 1, timeout: float = 120) -> None:
        def arrived() -> bool:
            self.go("/demo/mailbox/")
            return bool(self.mail_row(subject).count() >= count)

        _wait_for(arrived, timeout, f"{count} email(s) '{subject}' to {EMAIL}")

    def give(self, frequency: str, amount: str, method: str, name: str) -> None:
        """The donate form, the local checkout's Pay, then the thank-you page until it says
        paid (a SEPA debit clears by itself a few seconds later in the demo)."""
        self.go("/doneer/")
        self.page.check(f"input[name=frequency][value={frequency}]")
        self.page.check(f"input[name=amount][value='{amount}']")
        self.page.check(f"input[name=method][value={method}]")
        self.page.fill("input[name=name]", "Nina Nieuwkomer")
        self.page.fill("input[name=email]", EMAIL)
        self.shot(f"{name}-form")
        self.page.click("#donate-form button[type=submit]")
        self.page.wait_for_url(re.compile(r"/pay/cs_"), timeout=90_000)
        self.page.check(f"input[name=method][value={method}]")
        self.shot(f"{name}-checkout")
        self.page.click("button[value=pay]")
        self.page.wait_for_url(re.compile(r"/bedankt/|/thanks/|session_id="), timeout=90_000)
        self.shot(f"{name}-thanks-first")

        def paid() -> bool:
            if self.page.locator(".status-paid").count():
                return True
            self.page.reload()
            return False

        _wait_for(paid, 120, f"the {name} gift's paid thank-you page")
        self.shot(f"{name}-thanks")

    def mailing_results(self) -> dict[str, int]:
        """The demo mailing's results page, from its row in the mailing list."""
        self.go("/staff/mailing/mailing/")
        self.page.locator("#result_list a", has_text="Verhaal van de maand").first.click()
        found = re.search(r"/mailing/mailing/(\d+)/", self.page.url)
        assert found is not None, self.page.url
        self.go(reverse("admin:mailing_mailing_results", kwargs={"pk": found.group(1)}))
        self.shot("Marketing-mailing-results")
        stages = ("sent", "clicked", "gave", "unsubscribed", "bounced")
        funnel = self.page.locator("[data-testid=funnel]")
        return {
            stage: int(funnel.locator(f"[data-stage={stage}]").inner_text().strip())
            for stage in stages
        }

    def log_in(self, username: str, password: str, otpauth: str) -> None:
        secret = parse_qs(urlsplit(otpauth).query)["secret"][0]
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.go("/staff/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.fill("#id_otp_token", f"{totp(key):06d}")
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_url(f"{self.base}/staff/")

    def menu(self) -> list[str]:
        links = self.page.locator("#nav-sidebar-inner a[href]").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        pages = [
            href
            for href in dict.fromkeys(links)
            if href.startswith(("/staff/", "/demo/"))
            and href != "/staff/"
            and not any(part in href for part in NOT_MENU)
        ]
        assert pages, "no menu"
        return pages

    def rows_on(self, path: str, role: str) -> int:
        self.go(path)
        rows = self.page.locator("table tbody tr")
        if rows.count() == 0 and "export" in path:
            # Exports lists the jobs asked for: ask for one, as finance closes a month.
            self.page.locator("#export-form button[type=submit]").click()
            self.page.wait_for_load_state()
            self.go(path)
        self.shot(f"{role}-{path.strip('/').replace('/', '-')}")
        return int(rows.count())


def _logins(log: str) -> dict[str, tuple[str, str, str]]:
    found = {}
    for label in ("Marketing", "Finance"):
        login = re.search(rf"{label} login: (\S+) / (\S+)", log)
        uri = re.search(rf"{label} second factor \(TOTP\): (otpauth://\S+)", log)
        assert login is not None, f"no {label} login printed"
        assert uri is not None, f"no {label} second factor printed"
        found[label] = (login.group(1), login.group(2), uri.group(1))
    return found


def test_a_newcomer_signs_up_gives_and_finds_data_as_marketing_and_finance(
    clone: Path, browser: Any, artifacts_dir: Path
) -> None:
    _fresh_clone(clone)
    port = free_port()
    # Start-up time is the run-command test's concern; here the journey is (a loaded machine
    # takes minutes to migrate a fresh database).
    process, _ready = _start(clone, port, budget=SEED_BUDGET_S)
    base = f"http://127.0.0.1:{port}"
    shots = artifacts_dir / "newcomer"
    shots.mkdir(exist_ok=True)
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    me = Newcomer(context.new_page(), base, shots)
    empty: dict[str, list[str]] = {}
    funnel: dict[str, int] = {}
    try:
        # A supporter: sign up on the landing page.
        me.go("/")
        signup = me.page.locator("section.signup form")
        signup.locator("input[name=email]").fill(EMAIL)
        signup.locator("input[name=first_name]").fill("Nina")
        signup.locator("input[name=topics][value=stories]").check()
        me.shot("signup")
        signup.locator("button[type=submit]").click()
        me.page.wait_for_load_state()
        me.shot("signup-thanks")

        # The confirmation email in the demo mailbox; its link; the page's button.
        me.wait_for_mail(CONFIRM_SUBJECT)
        me.mail_row(CONFIRM_SUBJECT).first.locator("a").click()
        me.shot("confirmation-mail")
        me.page.locator("a[href*='/aanmelden/bevestigen/']").first.click()
        me.shot("confirm-page")
        me.page.locator("form button[type=submit]").first.click()
        me.page.wait_for_load_state()
        me.shot("confirmed")

        # The welcome story arrives.
        me.wait_for_mail(WELCOME_SUBJECT)
        me.mail_row(WELCOME_SUBJECT).first.locator("a").click()
        me.shot("welcome-story")

        # A gift once by iDEAL, and a monthly gift by SEPA Direct Debit.
        me.give("one_off", "2500", "ideal", "once")
        me.wait_for_mail(THANKS_SUBJECT)
        me.give("monthly", "1000", "sepa_debit", "monthly")
        assert "maand" in me.page.locator(".status-paid").inner_text()
        me.wait_for_mail(THANKS_SUBJECT, count=2)
        me.shot("thank-you-mails")

        # Staff: the logins the run command printed; data on every page of each menu.
        log_path = clone / "run.log"
        _wait_for(
            lambda: "[run] demo data ready" in log_path.read_text(),
            SEED_BUDGET_S,
            "the demo's gifts and mailing results",
        )
        for role, (username, password, otpauth) in _logins(log_path.read_text()).items():
            me.log_in(username, password, otpauth)
            me.shot(f"{role}-home")
            pages = me.menu()
            empty[role] = [path for path in pages if me.rows_on(path, role) == 0]
            assert len(pages) >= 5, pages
            if role == "Marketing":
                funnel = me.mailing_results()
            me.page.context.clear_cookies()
    except Exception:
        me.shot("failed-here")
        raise
    finally:
        context.close()
        alive = _ctrl_c(process)
        shutil.copy(clone / "run.log", shots / "run.log")  # what the run command printed

    assert empty == {"Marketing": [], "Finance": []}, "menu pages without rows"
    # The demo mailing's readers (mailing/demo_readers.py's plan): ten sent, five clicked,
    # two of them gave, two unsubscribed, one address bounced.
    assert funnel == {"sent": 10, "clicked": 5, "gave": 2, "unsubscribed": 2, "bounced": 1}
    assert alive == []
