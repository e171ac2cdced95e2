"""One module per outside system: the SMTP connection a batch reuses for all its messages."""

from __future__ import annotations

import smtplib
import sys
from typing import Any, Protocol

from django.conf import settings


class Transport(Protocol):
    def open(self) -> None: ...
    def send(self, sender: str, recipient: str, data: bytes) -> None: ...
    def close(self) -> None: ...


class SmtpTransport:
    """smtplib with pre-built bytes over one connection (no Django EmailMessage per recipient)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.connection: smtplib.SMTP | None = None

    def open(self) -> None:
        o = self.options
        cls = smtplib.SMTP_SSL if o.get("use_ssl") else smtplib.SMTP
        connection = cls(o["host"], o["port"], timeout=o.get("timeout", 20))
        if o.get("use_tls"):
            connection.starttls()
        if o.get("username"):
            connection.login(o["username"], o.get("password", ""))
        self.connection = connection

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        if self.connection is None:
            self.open()
        assert self.connection is not None
        # Raises SMTPRecipientsRefused / SMTPDataError / SMTPSenderRefused with the reply code;
        # smtplib resets the transaction itself, so the connection stays usable.
        self.connection.sendmail(sender, [recipient], data)

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

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        sys.stdout.write(data.decode(errors="replace") + "\n" + "-" * 79 + "\n")

    def close(self) -> None:
        pass


def transport_default() -> Transport:
    mailer = settings.MAILERS["default"]
    if mailer["BACKEND"].endswith("smtp.EmailBackend"):
        return SmtpTransport(mailer["OPTIONS"])
    return ConsoleTransport()
