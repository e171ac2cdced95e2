"""Marketing's workspace pages through the real admin: preview, test send, schedule, results."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from backoffice.roles import FINANCE, MARKETING
from mailing import services
from mailing.models import Delivery, Mailing, Segment, Suppression
from mailing.sending import deliveries_send
from tests.factories import (
    ConsentFactory,
    DonationFactory,
    StoryFactory,
    SupporterFactory,
    UserFactory,
)
from tests.mailing.factories import MailingFactory, SegmentFactory, SequenceStepFactory
from tests.staff import verified_client

pytestmark = pytest.mark.django_db


def url(tail: str) -> str:
    return f"/{settings.ADMIN_PATH}mailing/{tail}"


def staff(role: str, email: str = "") -> Any:
    user = UserFactory(email=email)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def marketer() -> Any:
    return staff(MARKETING, "redacteur@savethechildren.example")


@pytest.fixture
def marketing(marketer: Any) -> Any:
    return verified_client(marketer)


def test_preview_shows_the_real_email_in_both_languages_for_a_chosen_supporter(
    marketing: Any,
) -> None:
    story = StoryFactory(title_nl="Amira's tocht", title_en="Amira's journey")
    mailing = MailingFactory(story=story, subject_nl="Lees over Amira", subject_en="Read Amira")
    supporter = SupporterFactory(first_name="Joost", language="nl")

    page = marketing.get(url(f"mailing/{mailing.pk}/preview/"), {"supporter": supporter.email})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Lees over Amira" in html
    assert "Read Amira" in html

    frame = marketing.get(url(f"mailing/{mailing.pk}/preview/nl/frame/?supporter={supporter.pk}"))
    assert frame.status_code == 200
    body = frame.content.decode()
    assert "Joost" in body
    assert "Amira" in body
    # Framed by our own pages only; the email's HTML may not run script.
    assert "frame-ancestors 'self'" in frame["Content-Security-Policy"]
    assert "script-src" not in frame["Content-Security-Policy"]
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    english = marketing.get(url(f"mailing/{mailing.pk}/preview/en/frame/")).content.decode()
    assert "Amira&#x27;s journey" in english or "Amira's journey" in english


def test_preview_for_an_unknown_supporter_says_so(marketing: Any) -> None:
    mailing = MailingFactory()
    page = marketing.get(url(f"mailing/{mailing.pk}/preview/"), {"supporter": "niemand@x.nl"})
    assert "Geen supporter met dat e-mailadres of nummer." in page.content.decode()


def test_test_send_arrives_marked_as_test_and_is_not_a_send(
    marketing: Any, smtp_server: Any
) -> None:
    mailing = MailingFactory(subject_nl="Lees over Amira", subject_en="Read about Amira")
    response = marketing.post(url(f"mailing/{mailing.pk}/test-send/"), {"language": "en"})
    assert response.status_code == 302
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.rcpt_tos == ["redacteur@savethechildren.example"]
    assert received.message["Subject"] == "[TEST] Read about Amira"
    assert received.message.get_body(preferencelist=("html",)) is not None
    assert not Delivery.objects.exists()


def test_test_send_reports_a_refusing_server_and_sends_nothing(
    marketing: Any, settings: Any
) -> None:
    from config.embedded import free_port
    from config.settings.email import mailer_from_url

    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{free_port()}")}
    mailing = MailingFactory()
    response = marketing.post(
        url(f"mailing/{mailing.pk}/test-send/"), {"language": "nl"}, follow=True
    )
    assert "De mailserver nam de test niet aan" in response.content.decode()


def test_schedule_refuses_past_times_missing_and_broken_segments_and_saves_nothing(
    marketing: Any,
) -> None:
    mailing = MailingFactory(segment=None)
    schedule = url(f"mailing/{mailing.pk}/schedule/")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    response = marketing.post(schedule, {"day": tomorrow, "at": "09:00"})
    assert "Kies eerst een segment voor deze mailing." in response.content.decode()

    mailing.segment = SegmentFactory()
    mailing.save()
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = marketing.post(schedule, {"day": yesterday, "at": "09:00"})
    assert "Dat moment is voorbij" in response.content.decode()

    # A segment whose stored filter no longer parses (edited outside the builder).
    Segment.objects.filter(pk=mailing.segment.pk).update(filter={"languages": ["fr"]})
    response = marketing.post(schedule, {"day": tomorrow, "at": "09:00"})
    assert "is niet geldig" in response.content.decode()

    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.DRAFT
    assert mailing.send_at is None


def test_schedule_in_amsterdam_time_shows_the_recipient_count(marketing: Any) -> None:
    text = ConsentFactory(topic="stories").text
    for _ in range(3):
        ConsentFactory(topic="stories", text=text)
    mailing = MailingFactory(segment=SegmentFactory(filter={}))
    page = marketing.get(url(f"mailing/{mailing.pk}/schedule/")).content.decode()
    assert "4 supporters mogen hem nu ontvangen" in page

    response = marketing.post(
        url(f"mailing/{mailing.pk}/schedule/"), {"day": "2031-07-01", "at": "09:30"}
    )
    assert response.status_code == 302
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.SCHEDULED
    # 09:30 in Amsterdam in summer (CEST, UTC+2) is 07:30 UTC.
    assert mailing.send_at.isoformat() == "2031-07-01T07:30:00+00:00"


def test_unsafe_html_in_content_is_refused_and_nothing_saved(marketing: Any) -> None:
    mailing = MailingFactory(story=None, body_nl="Gewone tekst")
    form = marketing.get(url(f"mailing/{mailing.pk}/change/"))
    assert form.status_code == 200
    data = {
        "name": mailing.name,
        "topic": "stories",
        "subject_nl": "Onderwerp",
        "subject_en": "",
        "subject_b_nl": "",
        "subject_b_en": "",
        "preheader_nl": "",
        "preheader_en": "",
        "title_nl": "Titel",
        "title_en": "",
        "body_nl": "Hallo <script>alert(1)</script>",
        "body_en": "[klik](javascript:alert(1))",
        "_save": "Save",
    }
    response = marketing.post(url(f"mailing/{mailing.pk}/change/"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "HTML en scriptlinks zijn hier niet toegestaan" in page
    mailing.refresh_from_db()
    assert mailing.body_nl == "Gewone tekst"
    assert mailing.subject_nl != "Onderwerp"


def test_segment_builder_refuses_an_inverted_period_and_counts_members(marketing: Any) -> None:
    response = marketing.post(
        url("segment/add/"),
        {"name": "Omgekeerd", "signed_up_from": "2026-05-01", "signed_up_until": "2026-01-01"},
    )
    assert response.status_code == 200
    assert "Dit segment is niet bruikbaar" in response.content.decode()
    assert not Segment.objects.filter(name="Omgekeerd").exists()

    response = marketing.post(
        url("segment/add/"), {"name": "Engelstalig", "languages": ["en"], "topics": ["stories"]}
    )
    assert response.status_code == 302
    segment = Segment.objects.get(name="Engelstalig")
    assert segment.filter["languages"] == ["en"]
    assert segment.filter["topics"] == ["stories"]
    ConsentFactory(topic="stories", supporter=SupporterFactory(language="en"))
    ConsentFactory(topic="stories", supporter=SupporterFactory(language="nl"))
    page = marketing.get(url(f"segment/{segment.pk}/change/")).content.decode()
    assert ">1<" in page.replace(" ", "")


def test_results_count_what_was_sent_and_the_gifts_it_brought(
    marketing: Any, smtp_server: Any
) -> None:
    text = ConsentFactory(topic="stories").text
    for _ in range(2):
        ConsentFactory(topic="stories", text=text)
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    ids = list(Delivery.objects.filter(message__mailing=mailing).values_list("id", flat=True))
    deliveries_send(ids)
    gift = DonationFactory(amount=3500)
    services.gift_record(
        donation_id=gift.pk,
        supporter_id=None,
        source=services.source_token(ids[0]),
        first_gift=True,
        frequency="one_off",
        amount=gift.amount,
        currency="eur",
    )
    # One reader follows two links of their email in a browser; a link scanner follows one too.
    html = smtp_server.messages[0].message.get_body(preferencelist=("html",)).get_content()
    tracked = sorted(set(re.findall(r'href="https?://[^/"]+(/r/[^"]+)"', html)))
    assert len(tracked) >= 2
    browser = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64)", "HTTP_ACCEPT": "text/html"}
    for link in tracked[:2]:
        assert Client().get(link, **browser).status_code == 302
    scanner = smtp_server.messages[1].message.get_body(preferencelist=("html",)).get_content()
    scanned = re.findall(r'href="https?://[^/"]+(/r/[^"]+)"', scanner)[0]
    Client().head(scanned, HTTP_USER_AGENT="Mozilla/5.0 (compatible; SafeLinks)")

    progress = marketing.get(url(f"mailing/{mailing.pk}/progress.json")).json()
    assert progress["done"] == progress["total"] == 3
    assert progress["counts"]["sent"] == 3

    page = marketing.get(url(f"mailing/{mailing.pk}/results/")).content.decode()
    assert 'data-stage="sent">3<' in page
    assert 'data-stage="clicked">1<' in page
    assert 'data-stage="gave">1<' in page
    assert "€\xa035,00" in page
    assert "<svg" in page
    assert "<title>Van verzonden tot gift</title>" in page


def test_step_preview_and_sequence_results(marketing: Any) -> None:
    step = SequenceStepFactory(subject_nl="Stap één", subject_en="Step one")
    page = marketing.get(url(f"sequence/step/{step.pk}/preview/")).content.decode()
    assert "Stap één" in page
    assert "Step one" in page
    results = marketing.get(url(f"sequence/{step.sequence.pk}/results/")).content.decode()
    assert "Stap één" in results


def test_finance_gets_403_on_every_workspace_page() -> None:
    finance = verified_client(staff(FINANCE))
    mailing = MailingFactory()
    step = SequenceStepFactory()
    for tail in (
        f"mailing/{mailing.pk}/preview/",
        f"mailing/{mailing.pk}/preview/nl/frame/",
        f"mailing/{mailing.pk}/schedule/",
        f"mailing/{mailing.pk}/results/",
        f"mailing/{mailing.pk}/progress.json",
        f"sequence/step/{step.pk}/preview/",
        f"sequence/{step.sequence.pk}/results/",
    ):
        assert finance.get(url(tail)).status_code == 403, tail
    for tail in (
        f"mailing/{mailing.pk}/test-send/",
        f"mailing/{mailing.pk}/control/",
        f"sequence/{step.sequence.pk}/enrol/",
    ):
        assert finance.post(url(tail), {"do": "cancel"}).status_code == 403, tail
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.DRAFT


def test_story_preview_shows_the_public_page_in_both_languages_before_publishing(
    marketing: Any,
) -> None:
    story = StoryFactory(
        is_published=False, title_nl="Yusufs oversteek", title_en="Yusuf's crossing"
    )
    page = marketing.get(f"/{settings.ADMIN_PATH}campaign/story/{story.pk}/preview/")
    assert page.status_code == 200
    assert "Nog niet gepubliceerd" in page.content.decode()
    for language, title in (("nl", "Yusufs oversteek"), ("en", "Yusuf&#x27;s crossing")):
        frame = marketing.get(
            f"/{settings.ADMIN_PATH}campaign/story/{story.pk}/preview/{language}/frame/"
        )
        assert frame.status_code == 200
        assert title in frame.content.decode()
        assert f'lang="{language}"' in frame.content.decode()
        assert "frame-ancestors 'self'" in frame["Content-Security-Policy"]


def test_story_with_unsafe_html_is_refused_and_nothing_saved(marketing: Any) -> None:
    story = StoryFactory(body_nl="Eerlijk verhaal")
    page = marketing.get(f"/{settings.ADMIN_PATH}campaign/story/{story.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "image"}
    data.update(body_nl='Hallo <img src=x onerror="alert(1)">', _save="Save")
    data["campaign"] = story.campaign_id
    response = marketing.post(f"/{settings.ADMIN_PATH}campaign/story/{story.pk}/change/", data)
    assert response.status_code == 200
    assert "HTML en scriptlinks zijn hier niet toegestaan" in response.content.decode()
    story.refresh_from_db()
    assert story.body_nl == "Eerlijk verhaal"


def test_staff_enrol_a_segment_once_and_the_tick_sends_step_one(marketing: Any) -> None:
    step = SequenceStepFactory(delay=timedelta(0), sequence__trigger="manual")
    sequence = step.sequence
    text = ConsentFactory(topic="stories").text
    for _ in range(2):
        ConsentFactory(topic="stories", text=text)
    ConsentFactory(topic="appeals")  # no consent for the sequence's topic: not enrolled
    segment = SegmentFactory()
    enrol = url(f"sequence/{sequence.pk}/enrol/")

    page = marketing.get(enrol, {"segment": segment.pk}).content.decode()
    assert "3 supporters zouden worden ingeschreven." in page
    assert marketing.post(enrol, {"segment": segment.pk}).status_code == 302
    marketing.post(enrol, {"segment": segment.pk})  # again: nobody twice
    assert sequence.enrollments.count() == 3
    services.mailing_tick()
    assert Delivery.objects.filter(message__step=step).count() == 3


def test_enrolling_into_a_sequence_without_steps_says_so(marketing: Any) -> None:
    from tests.mailing.factories import SequenceFactory

    sequence = SequenceFactory()
    segment = SegmentFactory()
    response = marketing.post(url(f"sequence/{sequence.pk}/enrol/"), {"segment": segment.pk})
    assert "this sequence has no steps yet" in response.content.decode()


def test_pause_resume_and_cancel_from_the_results_page(marketing: Any) -> None:
    ConsentFactory(topic="stories")
    mailing = MailingFactory(segment=SegmentFactory())
    services.mailing_schedule(mailing_id=mailing.pk, send_at=timezone.now())
    services.mailing_tick()
    control = url(f"mailing/{mailing.pk}/control/")
    page = marketing.get(url(f"mailing/{mailing.pk}/results/")).content.decode()
    assert 'value="pause"' in page

    marketing.post(control, {"do": "pause"})
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.PAUSED
    marketing.post(control, {"do": "resume"})
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.SENDING
    marketing.post(control, {"do": "cancel"})
    mailing.refresh_from_db()
    assert mailing.state == Mailing.State.CANCELLED
    assert set(Delivery.objects.values_list("reason", flat=True)) == {"cancelled"}
    assert marketing.get(control).status_code == 405  # never by a link


def test_a_bounce_or_unsubscribe_counts_only_against_the_email_just_before_it() -> None:
    from mailing.models import Message
    from mailing.results import funnel
    from mailing.selectors import email_hash
    from tests.mailing.factories import DeliveryFactory

    now = timezone.now()
    consent = ConsentFactory(topic="stories")
    supporter = consent.supporter
    old = DeliveryFactory(supporter=supporter, sent_at=now - timedelta(days=60))
    recent = DeliveryFactory(supporter=supporter, sent_at=now - timedelta(days=1))
    services.suppression_add(address=supporter.email, reason="hard_bounce")
    consent.withdrawn_at = now
    consent.save()

    assert Suppression.objects.get().email_hash == email_hash(supporter.email)
    for delivery, counted in ((old, 0), (recent, 1)):
        result = funnel(Message.objects.filter(pk=delivery.message_id))
        assert (result.bounced, result.unsubscribed, result.delivered) == (
            counted,
            counted,
            1 - counted,
        )


def test_a_test_send_is_dkim_signed_like_a_real_send(
    marketing: Any, smtp_server: Any, dkim_dns: Any
) -> None:
    import dkim

    mailing = MailingFactory()

    marketing.post(url(f"mailing/{mailing.pk}/test-send/"), {"language": "nl"})

    raw = smtp_server.wait_for(1)[0].raw
    assert dkim.verify(raw, dnsfunc=dkim_dns)
