"""One module per outside system: an ESP's HTTP API through django-anymail, in batches.

Instead of one API call per recipient, one call carries up to MAILING_ESP_BATCH_SIZE recipients
of the same message version, language and subject variant: the body holds the ESP's merge
fields where the personal parts go, and anymail's merge_data / merge_headers give each
recipient their own name, links, List-Unsubscribe and Message-ID (anymail "batch sending":
https://anymail.dev/en/stable/sending/templates/#batch-send). The per-recipient status in
anymail's response decides each ledger row, mapped to SMTP terms so sending.py treats both
transports alike. Compiled once per message version and language, like the SMTP bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from html import escape
from typing import Any

import structlog
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from mailing.rendering import PERSONAL_FIELDS, fill_placeholders
from mailing.transport import Letter, Reply, TransportLost

log = structlog.get_logger(__name__)

# How each ESP spells a per-recipient merge field in content it merges itself. Postmark and
# others merge only into templates stored at the ESP, so they are not offered here.
MERGE_FIELDS = {"anymail.backends.mailgun.EmailBackend": "%recipient.{}%"}

# anymail's normalised per-recipient statuses, as SMTP replies (sending.py: 2xx sent, 4xx
# retried later, 5xx failed; "5.1.1" marks a hard bounce, which suppresses the address).
_STATUS_REPLIES = {
    "queued": Reply(250, "queued by the ESP"),
    "sent": Reply(250, "sent by the ESP"),
    "rejected": Reply(550, "5.7.1 rejected by the ESP"),
    "invalid": Reply(550, "5.1.1 invalid address (ESP)"),
    "failed": Reply(451, "4.0.0 the ESP could not send it"),
    "unknown": Reply(451, "4.0.0 the ESP gave no status"),
}
_SLOW_DOWN = Reply(452, "4.3.1 the ESP is throttling us (HTTP 429)")


def _merge_values(letter: Letter) -> dict[str, str]:
    """Each personal part twice: as is for the text part and subject, escaped for HTML."""
    p = letter.personal
    values = {
        "name": p.name or letter.compiled.fallback_name,
        "donate_url": p.donate_url,
        "preferences_url": p.preferences_url,
        "unsubscribe_url": p.unsubscribe_url,
        "click_base": p.click_base,
        "donate_query": p.donate_query,
    }
    return values | {f"{key}_html": escape(value) for key, value in values.items()}


class AnymailTransport:
    def __init__(self) -> None:
        self.backend_path = settings.MAILING_ESP_BACKEND
        if self.backend_path not in MERGE_FIELDS:
            raise ImproperlyConfigured(
                f"MAILING_ESP_BACKEND {self.backend_path!r}: batch sending needs an ESP that "
                f"merges per-recipient parts into content itself: {', '.join(MERGE_FIELDS)}"
            )
        self.field = MERGE_FIELDS[self.backend_path]
        self.batch_size = settings.MAILING_ESP_BATCH_SIZE
        self.backend: Any = None

    def open(self) -> None:
        if self.backend is None:
            cls = import_string(self.backend_path)
            self.backend = cls(alias="mailing_esp", **settings.MAILING_ESP_OPTIONS)
            self.backend.open()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def deliver(self, sender: str, letters: Iterable[Letter]) -> Iterator[tuple[Letter, Reply]]:
        """Up to batch_size letters at a time, one API call per (version, language, variant)
        among them. Each letter gets exactly one reply."""
        self.open()
        buffer: list[Letter] = []
        for letter in letters:
            buffer.append(letter)
            if len(buffer) >= self.batch_size:
                yield from self._deliver_buffer(buffer)
                buffer = []
        if buffer:
            yield from self._deliver_buffer(buffer)

    def _deliver_buffer(self, letters: list[Letter]) -> Iterator[tuple[Letter, Reply]]:
        groups: dict[tuple[int, str, int], list[Letter]] = {}
        for letter in letters:
            key = (id(letter.compiled), letter.variant, 0)
            # One address once per call (merge data is keyed by address).
            while any(other.recipient == letter.recipient for other in groups.get(key, [])):
                key = (key[0], key[1], key[2] + 1)
            groups.setdefault(key, []).append(letter)
        for group in groups.values():
            yield from self._post(group)

    def _post(self, group: list[Letter]) -> Iterator[tuple[Letter, Reply]]:
        message = self._message(group)
        try:
            self.backend.send_messages([message])
        except AnymailRecipientsRefused:
            pass  # every recipient refused: their statuses say why
        except AnymailAPIError as exc:
            status = getattr(exc, "status_code", None)
            if status is None or status >= 500:
                # Unreachable or failing: nothing in this call was sent; try again later.
                raise TransportLost(f"ESP unavailable: {exc}") from exc
            if status == 429:
                for letter in group:
                    yield letter, _SLOW_DOWN
                return
            if status in (400, 422) and len(group) > 1:
                # One bad address refuses the whole call: send them one by one, so only the
                # bad one fails.
                log.warning("mailing.esp_batch_refused", size=len(group), error=str(exc))
                for letter in group:
                    yield from self._post([letter])
                return
            if status in (400, 422):
                yield group[0], Reply(550, f"5.1.3 refused by the ESP: {exc}"[:400])
                return
            # 401, 403, 404: a configuration mistake, not the recipients' fault. Not an
            # OSError (anymail's error is one): the task fails loudly, the rows go back.
            raise ImproperlyConfigured(f"the ESP refused the call: {exc}") from exc
        recipients = message.anymail_status.recipients or {}
        for letter in group:
            status = recipients.get(letter.recipient.lower()) or recipients.get(letter.recipient)
            reply = _STATUS_REPLIES.get(status.status if status else "unknown")
            yield letter, reply or _STATUS_REPLIES["unknown"]

    def _message(self, group: list[Letter]) -> AnymailMessage:
        first = group[0]
        parts = first.compiled.parts
        if parts is None:
            raise ValueError("compiled without parts: use rendering.compile_content")
        message = AnymailMessage(
            subject=parts.subjects.get(first.variant) or parts.subjects["A"],
            body=self._merged(parts.text, html=False),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[letter.recipient for letter in group],
            reply_to=[settings.MAILING_REPLY_TO],
            headers={
                "List-Id": settings.MAILING_LIST_ID,
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(self._merged(parts.html, html=True), "text/html")
        message.merge_data = {letter.recipient: _merge_values(letter) for letter in group}
        message.merge_headers = {
            letter.recipient: {
                "Message-ID": letter.personal.message_id,
                "List-Unsubscribe": f"<{letter.personal.unsubscribe_url}>, "
                f"<{letter.personal.unsubscribe_mailto}>",
            }
            for letter in group
        }
        # Comes back with the ESP's tracking events: which ledger row an event is about.
        message.merge_metadata = {letter.recipient: {"delivery": letter.key} for letter in group}
        return message

    def _merged(self, rendered: str, *, html: bool) -> str:
        suffix = "_html" if html else ""

        def field(name: str) -> str:
            if name not in PERSONAL_FIELDS:
                raise ValueError(f"unknown placeholder {name!r}")
            return self.field.format(name + suffix)

        return fill_placeholders(rendered, field)
