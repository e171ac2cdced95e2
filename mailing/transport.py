"""One module per outside system: the SMTP connection a batch reuses for all its messages.

A batch goes through `deliver()`, which yields one reply per letter, in order, as the server
gives them. Over SMTP it pipelines (RFC 2920): the end of one message's content and the next
message's MAIL, RCPT and DATA go out in one write, so each message costs one round trip
instead of smtplib's four. Still only one message is ever in flight: the next one's content
is written only after its envelope was accepted and the previous one's reply was read.
"""

from __future__ import annotations

import smtplib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from mailing.dkim_signing import dkim_enabled, dkim_sign
from mailing.rendering import Compiled, Personal, message_bytes

_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class Letter:
    """One recipient's message of a batch; `key` is its ledger row id."""

    key: int
    recipient: str
    compiled: Compiled
    personal: Personal
    variant: str
    # The envelope sender (MAIL FROM) of this letter alone, a VERP address (mailing/verp.py);
    # empty: the batch's sender.
    bounce_to: str = ""

    def data(self) -> bytes:
        return message_bytes(self.compiled, self.personal, variant=self.variant)


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's (or ESP's, mapped to SMTP terms) answer for one letter."""

    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


class TransportLost(OSError):
    """The connection broke: letters without a reply yet were not delivered."""


class Transport(Protocol):
    def open(self) -> None: ...
    def deliver(self, sender: str, letters: Iterable[Letter]) -> Iterator[tuple[Letter, Reply]]: ...
    def close(self) -> None: ...


def _nothing() -> None:
    pass


def _content(data: bytes) -> bytes:
    """DATA content with dot-stuffing (RFC 5321 4.5.2) and the end marker. The messages we
    build use CRLF line ends throughout (rendering.py), so no line-end repair is needed."""
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(_CRLF):
        data += _CRLF
    return data + b".\r\n"


class SmtpTransport:
    """Pre-built bytes over one connection (no Django EmailMessage per recipient)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.connection: smtplib.SMTP | None = None
        # Called right before a message's content is written, once the previous message's
        # reply has been handed out: the sender confirms its record of that one here, so a
        # failure to record stops the batch before another message leaves.
        self.before_content: Callable[[], None] = _nothing

    def open(self) -> None:
        o = self.options
        cls = smtplib.SMTP_SSL if o.get("use_ssl") else smtplib.SMTP
        connection = cls(o["host"], o["port"], timeout=o.get("timeout", 20))
        if o.get("use_tls"):
            connection.starttls()
        if o.get("username"):
            connection.login(o["username"], o.get("password", ""))
        connection.ehlo_or_helo_if_needed()
        self.connection = connection

    def _connected(self) -> smtplib.SMTP:
        if self.connection is None:
            self.open()
        assert self.connection is not None
        return self.connection

    def deliver(self, sender: str, letters: Iterable[Letter]) -> Iterator[tuple[Letter, Reply]]:
        connection = self._connected()
        signing = dkim_enabled()
        if not connection.has_extn("pipelining"):
            yield from self._deliver_lockstep(connection, sender, letters, signing)
            return
        built = self._built(letters, signing)
        accepted: tuple[Letter, bytes] | None = None  # envelope accepted, content not yet sent
        try:
            current = next(built, None)
            while current is not None:
                letter, data = current
                if data is None:
                    # Would need SMTPUTF8; refused here rather than garbled on the wire.
                    yield letter, Reply(553, "5.6.7 non-ASCII address not supported")
                    current = next(built, None)
                    continue
                mail_from = f"MAIL FROM:<{letter.bounce_to or sender}>\r\n".encode()
                envelope = mail_from + b"RCPT TO:<%s>\r\nDATA\r\n" % letter.recipient.encode()
                if accepted is not None:
                    # The previous message's content leads the group (RFC 2920 section 3.1).
                    self.before_content()
                    connection.send(_content(accepted[1]) + envelope)
                else:
                    connection.send(envelope)
                # Build the next message while the server reads this group.
                try:
                    current = next(built, None)
                except Exception:
                    if accepted is not None:  # its reply first: it is marked, not repeated
                        yield accepted[0], self._reply(connection)
                    raise
                if accepted is not None:
                    yield accepted[0], self._reply(connection)
                    accepted = None
                refusal = self._envelope(connection, letter)
                if refusal is None:
                    accepted = (letter, data)
                else:
                    yield letter, refusal
            if accepted is not None:
                self.before_content()
                connection.send(_content(accepted[1]))
                yield accepted[0], self._reply(connection)
        except smtplib.SMTPServerDisconnected as exc:
            self.connection = None
            raise TransportLost(str(exc)) from exc
        except BaseException:
            if accepted is not None:
                # The server waits for content that will not come (the batch stopped, say its
                # database went away): a QUIT would be read as content and wait out the
                # timeout. Drop the connection; the server discards the unfinished message.
                self.connection = None
                connection.close()
            raise

    @staticmethod
    def _built(letters: Iterable[Letter], signing: bool) -> Iterator[tuple[Letter, bytes | None]]:
        for letter in letters:
            if not letter.recipient.isascii():
                yield letter, None
                continue
            data = letter.data()
            yield letter, dkim_sign(data) if signing else data

    def _envelope(self, connection: smtplib.SMTP, letter: Letter) -> Reply | None:
        """Read the MAIL, RCPT and DATA replies; None when the content may follow."""
        mail, rcpt, data = (self._reply(connection) for _ in range(3))
        refusal = next((r for r in (mail, rcpt) if not r.accepted), None)
        if data.code == 354:
            if refusal is None:
                return None
            # DATA went through although the recipient did not: end the message at once
            # (one empty line); the server discards it for want of recipients.
            connection.send(b"\r\n.\r\n")
            self._reply(connection)
            return refusal
        connection.send(b"RSET\r\n")
        self._reply(connection)
        if refusal is None:
            refusal = data if not data.accepted else Reply(451, f"DATA answered {data.code}")
        return refusal

    @staticmethod
    def _reply(connection: smtplib.SMTP) -> Reply:
        code, text = connection.getreply()
        return Reply(code, text.decode(errors="replace"))

    def _deliver_lockstep(
        self, connection: smtplib.SMTP, sender: str, letters: Iterable[Letter], signing: bool
    ) -> Iterator[tuple[Letter, Reply]]:
        """For a server without PIPELINING: smtplib's command-by-command sendmail."""
        for letter in letters:
            data = letter.data()
            if signing:
                data = dkim_sign(data)
            self.before_content()
            try:
                connection.sendmail(letter.bounce_to or sender, [letter.recipient], data)
            except smtplib.SMTPRecipientsRefused as exc:
                code, refusal = exc.recipients.get(letter.recipient, (451, b"refused"))
                yield letter, Reply(int(code), bytes(refusal).decode(errors="replace"))
            except smtplib.SMTPServerDisconnected as exc:
                self.connection = None
                raise TransportLost(str(exc)) from exc
            except smtplib.SMTPResponseException as exc:
                error = exc.smtp_error
                said = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
                yield letter, Reply(exc.smtp_code, said)
            except smtplib.SMTPNotSupportedError as exc:
                yield letter, Reply(553, str(exc))
            else:
                yield letter, Reply(250, "ok")

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


class ConsoleTransport:
    """Development (EMAIL_URL=console://): print the messages."""

    def open(self) -> None:
        pass

    def deliver(self, sender: str, letters: Iterable[Letter]) -> Iterator[tuple[Letter, Reply]]:
        for letter in letters:
            sys.stdout.write(letter.data().decode(errors="replace") + "\n" + "-" * 79 + "\n")
            yield letter, Reply(250, "printed")

    def close(self) -> None:
        pass


def deliver_one(transport: Transport, sender: str, letter: Letter) -> None:
    """One letter outside the send ledger (a staff test send), through the same path as a
    batch: DKIM, pipelining or the ESP's merge. Raises SMTPResponseException when refused."""
    for _letter, reply in transport.deliver(sender, [letter]):
        if not reply.accepted:
            raise smtplib.SMTPResponseException(reply.code, reply.text.encode())


def transport_default() -> Transport:
    """MAILING_TRANSPORT picks SMTP (EMAIL_URL) or an ESP's HTTP API through django-anymail."""
    if settings.MAILING_TRANSPORT == "anymail":
        from mailing.esp import AnymailTransport

        return AnymailTransport()
    mailer = settings.MAILERS["default"]
    if mailer["BACKEND"].endswith("smtp.EmailBackend"):
        return SmtpTransport(mailer["OPTIONS"])
    return ConsoleTransport()
