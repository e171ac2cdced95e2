"""What the crawl does beyond following links: submit every form and press every button with
valid input, as marketing, finance and a supporter would, checking each page that answers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from campaign import tokens
from campaign.emails import supporter_link_token
from donations.recurring import manage_token
from mailing.models import Mailing, Sequence
from tests.backoffice.conftest import admin_url
from tests.e2e import crawl_downloads as downloads
from tests.e2e.crawl import Crawler


def choose(page: Page, select_id: str, text: str) -> None:
    """Pick `text` in a search-as-you-type (select2) field, as a person does."""
    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def submit(crawl: Crawler, button: Any, label: str) -> None:
    """Press a button that loads a page, or starts a download (then the page stays)."""
    try:
        with crawl.page.expect_navigation(wait_until="load"):
            button.click()
    except PlaywrightError as error:
        if "ERR_ABORTED" not in str(error):
            raise
    crawl.check(label)


def run_actions(crawl: Crawler, list_tail: str) -> None:
    """Every action of a list, on its first row. A delete goes as far as its confirmation page,
    which is checked and never confirmed (the journey's later steps need the rows)."""
    page = crawl.page
    crawl.open(admin_url(list_tail), f"list {list_tail}")
    select = page.locator("select[name=action]")
    if not select.count():
        return
    actions = [v for v in select.locator("option").evaluate_all("os => os.map(o => o.value)") if v]
    for action in actions:
        page.goto(crawl.base + admin_url(list_tail))
        page.locator("input.action-select").first.check()
        page.locator("select[name=action]").select_option(action)
        submit(crawl, page.locator("button[name=index]"), f"action {action} on {list_tail}")


def search_and_filter(crawl: Crawler, list_tail: str, term: str) -> None:
    """A list filtered by its first filter's first choice, then searched for `term`."""
    page = crawl.page
    crawl.open(admin_url(list_tail))
    choices = [link for link in crawl.links() if re.search(r"[?&]\w+__(exact|gte)=", link)]
    if choices:
        crawl.open(choices[0], f"filter {list_tail}")
    page.locator("#searchbar").fill(term)
    with page.expect_navigation():
        page.locator("#searchbar").press("Enter")
    crawl.check(f"search {list_tail}")


def save(crawl: Crawler, label: str, name: str = "_save") -> None:
    submit(crawl, crawl.page.locator(f"button[name={name}]").first, label)


def marketing_journey(crawl: Crawler, world: dict[str, Any], smtp: Any) -> None:
    page, tag = crawl.page, crawl.language
    search_and_filter(crawl, "campaign/story/", "Amira")
    search_and_filter(crawl, "campaign/supporter/", "voorbeeld")

    # A story: the title prefills the slug.
    crawl.open(admin_url("campaign/story/add/"))
    page.locator("#id_campaign").select_option(index=1)
    page.fill("#id_title_nl", f"Noor over de bergen {tag}")
    page.fill("#id_child_pseudonym", "Noor")
    page.fill("#id_route_nl", "Afghanistan naar Nederland")
    page.fill("#id_title_en", f"Noor across the mountains {tag}")
    page.fill("#id_summary_nl", "Hoe Noor de winter in de bergen doorkwam.")
    page.fill("#id_body_nl", "Noor liep **drie weken**.")
    page.fill("#id_body_en", "Noor walked for **three weeks**.")
    expect(page.locator("#id_slug")).to_have_value(re.compile(r"^noor-over-de-bergen"))
    save(crawl, "story saved")
    expect(page.locator("#result_list")).to_contain_text(f"Noor over de bergen {tag}")

    # A segment, and a mailing to it.
    crawl.open(admin_url("mailing/segment/add/"))
    page.fill("#id_name", f"Verhalenlezers {tag}")
    page.locator("input[name=topics][value=stories]").check()
    save(crawl, "segment saved")
    crawl.open(admin_url("mailing/mailing/add/"))
    page.fill("#id_name", f"Noor in december {tag}")
    choose(page, "id_segment", f"Verhalenlezers {tag}")
    choose(page, "id_story", f"Noor over de bergen {tag}")
    page.fill("#id_subject_nl", "Noor liep drie weken")
    page.fill("#id_subject_en", "Noor walked for three weeks")
    save(crawl, "mailing saved", "_continue")
    mailing = Mailing.objects.get(name=f"Noor in december {tag}")

    # Preview for a supporter, and a test to oneself.
    crawl.open(admin_url(f"mailing/mailing/{mailing.pk}/preview/"))
    page.locator("#preview-for input[name=supporter]").fill(world["supporters"][0].email)
    submit(crawl, page.locator("#preview-for button[type=submit]"), "preview for a supporter")
    before = len(smtp.messages)
    page.locator("#test-send select[name=language]").select_option("en")
    submit(crawl, page.locator("#test-send button[type=submit]"), "test sent")
    assert len(smtp.wait_for(before + 1)) == before + 1

    # Schedule it tomorrow, then pause, resume and cancel it on the live results page.
    crawl.open(admin_url(f"mailing/mailing/{mailing.pk}/schedule/"))
    when = timezone.localtime() + timedelta(days=1)
    page.fill("#id_day", when.date().isoformat())
    page.fill("#id_at", "10:00")
    submit(crawl, page.locator("#schedule-form button[type=submit]"), "scheduled")
    for action, state in (("pause", "paused"), ("resume", "scheduled"), ("cancel", "cancelled")):
        page.locator(f"#mailing-controls button[value={action}]").click()
        expect(page.locator("[data-progress-state]")).to_have_attribute("data-state", state)
        crawl.check(f"mailing {action}")

    # The welcome sequence: its results, and enrolling a segment (count first, then confirm).
    sequence = Sequence.objects.order_by("pk").first()
    assert sequence is not None
    crawl.open(admin_url(f"mailing/sequence/{sequence.pk}/results/"))
    crawl.open(admin_url(f"mailing/sequence/{sequence.pk}/enrol/"))
    page.locator("select[name=segment]").select_option(index=1)
    submit(crawl, page.locator("form[method=get] button[type=submit]"), "enrol count")
    submit(crawl, page.locator("#enrol-form button[type=submit]"), "enrolled")

    for tail in ("campaign/story/", "mailing/mailing/", "campaign/supporter/"):
        run_actions(crawl, tail)


def finance_journey(crawl: Crawler, world: dict[str, Any]) -> None:
    """Every finance button that starts background work, followed until the worker is done
    and its file read (crawl_downloads.py)."""
    search_and_filter(crawl, "donations/donation/", "Daan")
    downloads.transaction_exports(crawl)
    downloads.monthly_summary(crawl)
    downloads.payout_export(crawl, "po_crawl_1")
    downloads.statements_run(crawl)
    for tail in ("donations/donation/", "donations/transaction/", "donations/recurringdonation/"):
        run_actions(crawl, tail)


def public_journey(crawl: Crawler, world: dict[str, Any], fake_stripe: Any) -> None:
    page, language = crawl.page, crawl.language
    with override(language):
        signup = reverse("campaign:signup")
        donate = reverse("donations:donate")
        person = world["supporters"][0]
        token = supporter_link_token(person)
        preferences = reverse("campaign:preferences", kwargs={"token": token})
        manage = reverse("donations:manage", kwargs={"token": manage_token(world["recurring"])})
        export = tokens.data_link_token(
            purpose="export",
            supporter_id=person.pk,
            link_secret=person.link_secret,
            nonce="00112233aabbccdd",
        )
        data = reverse("campaign:data_export", kwargs={"token": export})

    # Sign up with valid input.
    crawl.open(signup)
    page.fill("input[name=email]", f"crawl-{language}@voorbeeld.nl")
    page.fill("input[name=first_name]", "Kim")
    page.locator("input[name=topics][value=stories]").check()
    submit(crawl, page.locator("form.form button[type=submit]"), "signed up")

    # The preference centre: save, then ask for a data link.
    crawl.open(preferences)
    submit(crawl, page.locator("form.form button[type=submit]").first, "preferences saved")
    crawl.open(preferences)
    submit(crawl, page.locator("form.field button"), "data link asked")
    crawl.open(data)
    crawl.open(manage)
    crawl.open(f"/u/{token}/")

    # A gift through the local checkout, back to the thank-you page.
    crawl.open(donate)
    page.locator("input[name=amount]").first.check()
    page.locator("input[name=method][value=ideal]").check()
    page.fill("input[name=name]", "Kim de Boer")
    page.fill("input[name=email]", f"gift-{language}@voorbeeld.nl")
    with page.expect_navigation(url=re.compile(re.escape(fake_stripe.api_base) + ".*")):
        page.locator("#donate-form button[type=submit]").click()
    page.screenshot(path=str(crawl.artifacts / "checkout.png"), full_page=True)
    with page.expect_navigation(url=re.compile(re.escape(crawl.base) + ".*")):
        page.locator("button[value=pay]").click()
    crawl.check("thank you")
