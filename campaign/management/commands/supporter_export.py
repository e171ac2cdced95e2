"""python manage.py supporter_export EMAIL: every personal datum held about the person, as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from campaign import personal_data, services
from campaign.models import Consent, SupporterAudit
from campaign.selectors import supporter_by_email


class Command(BaseCommand):
    help = "Print every personal datum held about a supporter as JSON (AVG right of access)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the address, in any case")

    def handle(self, *args: Any, **options: Any) -> None:
        supporter = supporter_by_email(options["email"].strip())
        if supporter is None:
            # An unknown (or already erased) address: we hold nothing, and say so as JSON.
            document = personal_data.not_found_document()
        else:
            document = services.supporter_data_export(
                supporter_id=supporter.pk,
                actor=SupporterAudit.Actor.STAFF,
                method=Consent.Method.STAFF,
            )
        self.stdout.write(json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
