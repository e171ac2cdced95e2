"""Supporters for the sunset tests, as real rows: each shows (or lacks) one sign of life, made
the way the system records it (a click row on an email we sent, a gift told through campaign's
event, the preference centre's service, a fresh confirmation)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from campaign.events import donation_succeeded
from campaign.models import Consent, ConsentText, Supporter, SupporterAudit
from campaign.services import Evidence, supporter_preferences_update
from mailing import services
from mailing.models import Click, Delivery
from tests.factories import ConsentFactory, SupporterFactory
from tests.mailing.factories import MailingFactory

LONG_AGO = timedelta(days=400)  # past the default MAILING_SUNSET_DAYS of 365
RECENTLY = timedelta(days=20)


def _stale(email: str, text: ConsentText) -> Supporter:
    """Signed up and confirmed 400 days ago, nothing since."""
    then = timezone.now() - LONG_AGO
    consent = ConsentFactory(
        supporter=SupporterFactory(email=email, confirmed_at=then),
        text=text,
        given_at=then,
        confirmed_at=then,
    )
    Supporter.objects.filter(pk=consent.supporter_id).update(created_at=then)
    return consent.supporter


def sunset_people(text: ConsentText, *, stale: int = 3) -> dict[str, Supporter]:
    """Who the rule should leave out: "stale-N" and "clicked-long-ago"; who it keeps: "clicked",
    "gave", "preferences", "confirmed"."""
    people = {f"stale-{n}": _stale(f"stil{n}@voorbeeld.nl", text) for n in range(stale)}
    for name in ("clicked", "clicked-long-ago", "gave", "preferences"):
        people[name] = _stale(f"{name}@voorbeeld.nl", text)
    # A click on an email of an earlier mailing (20 days ago), and one 400 days ago.
    earlier = services.message_current(MailingFactory(name="Eerder"))
    for name, ago in (("clicked", RECENTLY), ("clicked-long-ago", LONG_AGO)):
        row = Delivery.objects.create(
            message=earlier, supporter=people[name], state="sent", sent_at=timezone.now() - ago
        )
        click = Click.objects.create(delivery=row, link=0, url="https://www.example.org/")
        Click.objects.filter(pk=click.pk).update(clicked_at=timezone.now() - ago)
    donation_succeeded.send(
        sender=None,
        donation_id=77001,
        supporter_id=people["gave"].pk,
        source_token="",
        first_gift=True,
        frequency="one_off",
        amount=1500,
        currency="eur",
    )
    supporter_preferences_update(
        supporter_id=people["preferences"].pk,
        first_name="Sanne",
        language="nl",
        texts={"stories": text},
        evidence=Evidence.from_values(method="preference_centre", ip=None, user_agent="Firefox"),
    )
    assert SupporterAudit.objects.filter(
        supporter=people["preferences"], action="preferences_changed"
    ).exists()
    people["confirmed"] = ConsentFactory(
        supporter=SupporterFactory(email="nieuw@voorbeeld.nl"), text=text
    ).supporter
    assert Consent.objects.filter(withdrawn_at__isnull=True).count() == len(people)
    return people


LEFT_OUT = {"clicked-long-ago"}  # besides every "stale-N"
