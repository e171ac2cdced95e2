"""The demo mailbox: an SMTP server that keeps every email the demo sends, for the browser.

A development tool, never for production (`APP_ENV=production` refuses DEMO_MAILBOX_DIR). The
run command starts it when no EMAIL_URL is set and points EMAIL_URL at it, so campaign mail,
confirmations and donor emails all travel over real SMTP, exactly as in production, and land
as .eml files in var/mailbox/; config/demo_mailbox_views.py shows them at /demo/mailbox/.

    python -m config.demo_mailbox --dir var/mailbox --port 8025
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

# <microseconds since epoch>-<random>.eml: sortable by arrival, and nothing else is ever read.
_NAME = re.compile(r"^[0-9]{16,20}-[0-9a-f]{12}\.eml$")
LIST_LIMIT = 200


@dataclass(frozen=True)
class MailSummary:
    name: str
    sender: str
    to: str
    subject: str
    date: str


class _Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns() // 1000}-{uuid.uuid4().hex[:12]}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(bytes(envelope.content))
        partial.rename(self.directory / name)  # readers never see half a message
        return "250 Kept in the demo mailbox"


def serve(directory: Path, port: int) -> None:
    from aiosmtpd.controller import Controller

    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Keeper(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"[mailbox] SMTP on 127.0.0.1:{port}, keeping mail in {directory}", flush=True)
    stop = False

    def _stop(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop:
        time.sleep(0.5)
    controller.stop()


def _parse(path: Path, *, headers_only: bool = False) -> EmailMessage:
    parser = email.parser.BytesParser(policy=email.policy.default)
    with path.open("rb") as handle:
        message = parser.parse(handle, headersonly=headers_only)
    assert isinstance(message, EmailMessage)
    return message


def mailbox_list(directory: Path, *, limit: int = LIST_LIMIT) -> list[MailSummary]:
    """The newest emails first."""
    if not directory.is_dir():
        return []
    names = sorted((n for n in os.listdir(directory) if _NAME.match(n)), reverse=True)[:limit]
    summaries = []
    for name in names:
        message = _parse(directory / name, headers_only=True)
        summaries.append(
            MailSummary(
                name=name,
                sender=str(message.get("From", "")),
                to=str(message.get("To", "")),
                subject=str(message.get("Subject", "")),
                date=str(message.get("Date", "")),
            )
        )
    return summaries


def mailbox_read(directory: Path, name: str) -> EmailMessage | None:
    """One email by its file name; None for anything that is not a kept email."""
    if not _NAME.match(name) or not (directory / name).is_file():
        return None
    return _parse(directory / name)


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    serve(args.dir, args.port)


if __name__ == "__main__":
    main()
