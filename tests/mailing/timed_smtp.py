"""A real SMTP server (aiosmtpd) that records when each recipient's message arrived, with the
mailer pointed at it at a slow, steady rate: the mid-batch tests' stopwatch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from config.embedded import free_port
from config.settings.email import mailer_from_url

RATE = 5  # messages per second: a batch of 40 takes ~8 s


class TimedCollector:
    """Records when the server received each recipient's message (unix time)."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        with self.lock:
            for address in envelope.rcpt_tos:
                self.received.setdefault(address.lower(), now)
        return "250 2.0.0 queued"

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return dict(self.received)


@pytest.fixture
def timed_smtp(settings: Any) -> Iterator[TimedCollector]:
    collector = TimedCollector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {"default": mailer_from_url(f"smtp://127.0.0.1:{port}")}
    settings.MAILING_RATE_PER_SECOND = RATE
    settings.MAILING_RATE_BURST = 1
    try:
        yield collector
    finally:
        controller.stop()
