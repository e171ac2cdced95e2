"""campaign.wording: a process keeps the current consent wording between changes, and never
hands out wording that was superseded (consent must be provable: the row names the wording)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from campaign import services
from campaign.models import Consent, ConsentText, Supporter
from campaign.wording import consent_texts_current_at, generation_key
from config.cache import redis_client
from tests.campaign.test_api import payload, post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("consent_texts")]


def _sign_up(client: Client, email: str) -> Consent:
    assert post(client, payload(email=email, topics=["stories"])).status_code == 202
    return Consent.objects.get(supporter=Supporter.objects.get(email=email))


def _warm(client: Client, unique_email: Any) -> None:
    # The first use marks the wording used (which replaces the copies), the second reads it.
    for _ in range(2):
        _sign_up(client, unique_email())


def test_the_copy_serves_until_new_wording_is_published_and_then_the_new_one_at_once(
    client: Client, unique_email: Any, consent_texts: dict[str, dict[str, ConsentText]]
) -> None:
    _warm(client, unique_email)
    with CaptureQueriesContext(connection) as queries:
        kept = _sign_up(client, unique_email())
    read = [q["sql"] for q in queries if 'FROM "campaign_consenttext"' in q["sql"]]
    assert read == []  # the process's copy
    assert kept.text == consent_texts["nl"]["stories"]

    newer = services.consent_text_add(topic="stories", language="nl", text="Nieuwe woorden.")

    assert _sign_up(client, unique_email()).text == newer


def test_a_redis_that_lost_its_data_never_lets_a_process_keep_old_wording(
    client: Client, unique_email: Any
) -> None:
    _warm(client, unique_email)
    # New wording written without the model's signal (so no new generation), then Redis loses
    # its data: the next sign-up finds no generation, makes a new one, and reads the wording.
    latest = ConsentText.objects.filter(topic="stories", language="nl").order_by("-version")[0]
    (newer,) = ConsentText.objects.bulk_create(
        [ConsentText(topic="stories", language="nl", version=latest.version + 1, text="Anders.")]
    )
    redis_client().delete(generation_key())

    assert _sign_up(client, unique_email()).text == newer
    assert redis_client().get(generation_key()) is not None


def test_inside_a_transaction_the_copy_is_neither_used_nor_filled(
    client: Client, unique_email: Any, consent_texts: dict[str, dict[str, ConsentText]]
) -> None:
    _warm(client, unique_email)
    generation = redis_client().get(generation_key())
    before = consent_texts["nl"]["stories"]

    with transaction.atomic():
        draft = ConsentText.objects.create(topic="stories", language="nl", version=99, text="X")
        # The transaction sees its own row: a copy would hide it.
        assert consent_texts_current_at("nl", generation)["stories"] == draft
        transaction.set_rollback(True)

    # Rolled back: no new generation, and the copy was not filled with the draft.
    assert redis_client().get(generation_key()) == generation
    assert consent_texts_current_at("nl", generation)["stories"] == before
