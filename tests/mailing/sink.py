"""A tiny counting SMTP sink in its own process, fast enough for 20,000-message tests.

Logs one line per accepted message: "<recipient>\t<Message-ID>\t<unix time>". Optional rules
answer 451 to an address the first N times (a temporary failure), 451 to the first N recipients
whoever they are (a server still recovering), or 550 5.1.1 always (a hard bounce).

    python -m tests.mailing.sink PORT LOGFILE [--tempfail ADDR:N ...] [--tempfail-first N]
        [--bounce ADDR ...]
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from config.embedded import free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Rules:
    def __init__(self, args: list[str]) -> None:
        self.tempfail: Counter[str] = Counter()
        self.bounce: set[str] = set()
        self.tempfail_first = 0
        for flag, value in zip(args[::2], args[1::2], strict=True):
            if flag == "--tempfail":
                address, times = value.rsplit(":", 1)
                self.tempfail[address.lower()] = int(times)
            elif flag == "--tempfail-first":
                self.tempfail_first = int(value)
            elif flag == "--bounce":
                self.bounce.add(value.lower())

    def reply(self, address: str) -> bytes:
        address = address.lower()
        if address in self.bounce:
            return b"550 5.1.1 <%s>: user unknown\r\n" % address.encode()
        if self.tempfail_first > 0:
            self.tempfail_first -= 1
            return b"451 4.3.0 try again later\r\n"
        if self.tempfail[address] > 0:
            self.tempfail[address] -= 1
            return b"451 4.3.0 try again later\r\n"
        return b"250 2.1.5 ok\r\n"


async def _session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: object, rules: Rules
) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    recipients: list[str] = []
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            writer.write(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
        elif verb == b"MAIL":
            recipients = []
            writer.write(b"250 2.1.0 ok\r\n")
        elif verb == b"RCPT":
            address = line.split(b":", 1)[1].strip().strip(b"<>").decode()
            reply = rules.reply(address)
            if reply.startswith(b"250"):
                recipients.append(address)
            writer.write(reply)
        elif verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            data = await reader.readuntil(b"\r\n.\r\n")
            found = _MESSAGE_ID.search(data)
            message_id = found.group(1).decode() if found else "-"
            now = time.time()
            for address in recipients:
                log.write(f"{address}\t{message_id}\t{now:.3f}\n")  # type: ignore[attr-defined]
            log.flush()  # type: ignore[attr-defined]
            writer.write(b"250 2.0.0 queued\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:  # RSET, NOOP and anything else
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()


async def _main(port: int, log_path: str, rules: Rules) -> None:
    with open(log_path, "a", buffering=1 << 16) as log:
        server = await asyncio.start_server(
            lambda r, w: _session(r, w, log, rules), "127.0.0.1", port
        )
        async with server:
            await server.serve_forever()


class SinkProcess:
    def __init__(self, log: Path, *rules: str) -> None:
        self.log = log
        self.port = free_port()
        self.rules = list(rules)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SinkProcess:
        self.log.touch()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.mailing.sink",
                str(self.port),
                str(self.log),
                *self.rules,
            ],
            cwd=Path(__file__).resolve().parents[2],
        )
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sink did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def lines(self) -> list[tuple[str, str]]:
        rows = []
        for line in self.log.read_text().splitlines():
            address, message_id, *_ = line.split("\t")
            rows.append((address, message_id))
        return rows

    def accepted_at(self) -> list[float]:
        """When each message was accepted (unix time), in order."""
        return [float(line.rsplit("\t", 1)[1]) for line in self.log.read_text().splitlines()]


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), sys.argv[2], Rules(sys.argv[3:])))
