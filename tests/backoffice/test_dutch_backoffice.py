"""The Dutch back office reads Dutch: every list, add and change page (found by walking the admin
site's URLs, so a page added later is covered too), opened as a superuser in Dutch, shows none
of the English words a newcomer ran into, and no money as bare cents or "EUR".

Visible text only: tags, scripts and styles are stripped; the rows' own content (the names and
texts made below) is user data and left out by writing it in Dutch.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from campaign.models import ConsentText
from donations.models import PeriodicGiftAgreement
from tests import factories
from tests.backoffice.conftest import admin_url, verified_client
from tests.backoffice.test_passkeys import add_passkey_row
from tests.backoffice.test_role_urls import admin_routes, url_for

pytestmark = pytest.mark.django_db

# What a newcomer saw in English, and the admin's everyday words (whole words, case-sensitive;
# not those that are Dutch too: Status, Supporter, Filter).
ENGLISH = [
    "No results found",
    "Type to search",
    "Select an option",
    "Created at",
    "Updated at",
    "Campaign",
    "Story",
    "Stories",
    "State",
    "Save",
    "Delete",
    "Add",
    "Search",
    "Change",
    "History",
    "Actions",
    "Yes",
    "No",
    "Unknown",
    "All",
    "Home",
    "Log out",
    "Apply",
    "Submit",
    "Close",
    "Cancel",
    "Return",
    "Download",
    "Donation",
    "Amount",
    "Transaction",
    "Language",
    "Languages",
    "Name",
    "Sent",
    "Today",
    "Now",
    "Date",
    "Time",
    "Previous",
    "Next",
    "results",
    "Show counts",
    "Clear",
    "Required",
    "Run",
    "Choose",
    "Can view",
    "Can add",
    "Can change",
    "Can delete",
    "Verwijderen verhaal",
    "jaaroverzichtens",
    "periodieke gifts",
    # The formal "you" among the informal "je" (the back office says je/jouw).
    " U ",
    " uw ",
    "Uw ",
]
_EUR = re.compile(r"\bEUR\b|\b\d+ cent\b")


class VisibleText(HTMLParser):
    """The text a person sees: no tags, scripts, styles; placeholders and titles count."""

    HIDDEN = {"script", "style", "noscript", "svg"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.unstyled: list[str] = []  # form fields without any of the theme's classes
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        attributes = dict(attrs)
        plain = ("hidden", "checkbox", "radio", "submit", "file", "button")
        is_field = tag in ("select", "textarea") or (
            tag == "input" and attributes.get("type", "text") not in plain
        )
        # Django's own widgets render with no class at all: no border, no padding.
        if is_field and not (attributes.get("class") or "").strip():
            self.unstyled.append(f"unstyled <{tag} name={attributes.get('name')}>")
        for name, value in attrs:
            if name in ("placeholder", "title", "aria-label") and value:
                self.parts.append(value)
            if name == "value" and tag == "input" and dict(attrs).get("type") == "submit":
                self.parts.append(value or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> tuple[str, list[str]]:
    """The page's visible text, and its form fields that lack the theme's (bordered) style."""
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts), parser.unstyled


# Names, not English: the charity's and the campaign's.
PROPER_NAMES = ("Save the Survivors", "Save the Children")


def english_in(text: str) -> list[str]:
    found = []
    for name in PROPER_NAMES:
        text = text.replace(name, "")
    padded = f" {text.replace(chr(10), ' ')} "
    for phrase in ENGLISH:
        if phrase.startswith(" ") or phrase.endswith(" "):
            hit = phrase in padded
        else:
            hit = re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None
        if hit:
            found.append(phrase.strip())
    return found


def _rows(user: Any) -> None:
    """One Dutch-worded row of each model so change pages have something to show."""
    campaign = factories.CampaignFactory(name_nl="Red de overlevenden", name_en="Red")
    factories.StoryFactory(campaign=campaign, title_nl="Amira's reis", title_en="Amira's reis")
    supporter = factories.SupporterFactory(first_name="Noor")
    recurring = factories.RecurringDonationFactory(
        amount=1035, donor_name="Noor de Vries", supporter=supporter
    )
    factories.DonationFactory(amount=2500, donor_name="Noor de Vries", supporter=supporter)
    StaticDevice.objects.create(user=user, name="Herstelcodes", confirmed=True)
    add_passkey_row(user)
    factories.TransactionFactory(amount=5029, fee=63, net=4966)
    PeriodicGiftAgreement.objects.create(
        recurring=recurring,
        transaction_number="PG-2026-0001",
        yearly_amount=12420,
        start_year=timezone.localdate().year,
        term_years=5,
        donor_name="Noor de Vries",
        charity_name="Save the Children",
        charity_rsin="002943004",
    )


def _pages() -> list[str]:
    skip = ("/delete/", "/history/", "/autocomplete/", "/jsi18n/", "/logout/", "/frame/")
    urls = []
    for route in admin_routes():
        if route.redirect or route.name is None:
            continue
        if not route.name.endswith(("_changelist", "_add", "_change")):
            continue
        url = url_for(route)
        if not any(part in url for part in skip):
            urls.append(url)
    return urls


def test_every_list_add_and_change_page_reads_dutch(
    make_staff: Any, finance_rows: dict[str, Any], mailing_rows: dict[str, Any]
) -> None:
    superuser = make_staff()
    superuser.is_superuser = True
    superuser.save()
    _rows(superuser)
    client = verified_client(superuser)
    pages = _pages()
    # The seeded consent texts' English versions are content staff wrote, not the interface.
    user_data = {t.text for t in ConsentText.objects.all()}
    assert len(pages) > 40  # not vacuous: every model admin's three pages

    found: dict[str, list[str]] = {}
    for url in [admin_url(), *pages]:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="nl")
        if response.status_code == 403:
            continue  # a read-only admin's add page: nobody may add, nothing to read
        assert response.status_code == 200, url
        text, unstyled = visible_text(response.content.decode())
        # An audit entry shows the values as they were recorded (permission names included).
        recorded = "/auditlog/logentry/" in url
        problems = [
            f"{hit!r} in {line!r}"
            for line in text.splitlines()
            if line not in user_data and not (recorded and " | Can " in line)
            for hit in english_in(line) + _EUR.findall(line)
        ]
        problems += unstyled
        if problems:
            found[url] = sorted(set(problems))

    for url, problems in found.items():
        print(url, *problems, sep="\n  ")
    assert found == {}


def test_money_reads_as_euros_in_the_ledger_agreements_and_gifts(make_staff: Any) -> None:
    superuser = make_staff()
    superuser.is_superuser = True
    superuser.save()
    _rows(superuser)
    client = verified_client(superuser)
    agreement = PeriodicGiftAgreement.objects.get()
    # The rows' amounts in cents (from _rows), as a Dutch reader writes them.
    expected = {
        "donations/transaction/": ["€\xa050,29", "€\xa00,63", "€\xa049,66"],
        "donations/donation/": ["€\xa025,00"],
        "donations/recurringdonation/": ["€\xa010,35"],
        "donations/periodicgiftagreement/": ["€\xa0124,20"],
        f"donations/periodicgiftagreement/{agreement.pk}/change/": ["€\xa0124,20"],
    }
    for tail, amounts in expected.items():
        text, _unstyled = visible_text(client.get(admin_url(tail)).content.decode())
        for amount in amounts:
            assert amount in text, (tail, amount)
        for cents in ("5029", "12420", "1035", "2500"):
            assert cents not in text.split(), (tail, cents)
