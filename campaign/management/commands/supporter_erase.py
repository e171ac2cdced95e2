"""python manage.py supporter_erase EMAIL: erase the person's data (AVG right to erasure)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaign import services
from campaign.models import Consent, SupporterAudit
from campaign.selectors import supporter_by_email


class Command(BaseCommand):
    help = (
        "Erase a supporter's personal data at once; gift rows stay, pseudonymised. "
        "Safe to repeat: an unknown or already erased address changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the address, in any case")

    def handle(self, *args: Any, **options: Any) -> None:
        supporter = supporter_by_email(options["email"].strip())
        pseudonym = None
        if supporter is not None:
            pseudonym = services.supporter_erase(
                supporter_id=supporter.pk,
                actor=SupporterAudit.Actor.STAFF,
                method=Consent.Method.STAFF,
            )
        if pseudonym is None:
            self.stdout.write("Nothing to erase: no supporter data is held for that address.")
        else:
            self.stdout.write(
                f"Erased supporter #{supporter.pk if supporter else '?'}; "
                f"kept rows now refer to {pseudonym}."
            )
