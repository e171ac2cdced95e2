"""A million-person mailing end to end: bench/mailing.py at 1,000,000 recipients, from the
moment it falls due (fan-out included) to the last message accepted by postfix's smtp-sink,
against raw smtplib over 4 connections on the same message size, measured before and after
ours in the same run (on 200,000 messages each: its rate is steady, and a million twice would
add half an hour). Worker memory is read at 100,000 sent and at the end.

Prints RESULT mail_1m ratio=<ours/raw> target>=0.50 and RESULT mail_1m largest_process_rss_mb
(target < 250 MB, flat). Sizes: BENCH_MAIL_RECIPIENTS, BENCH_MAIL_RAW_MESSAGES,
BENCH_MAIL_MEMORY_MARK (develop at 100,000).

    .venv/bin/python bench/mail_1m.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("BENCH_MAIL_RECIPIENTS", "1000000")
os.environ.setdefault("BENCH_MAIL_RAW_MESSAGES", "200000")
os.environ.setdefault("BENCH_MAIL_MEMORY_MARK", "100000")

from bench import mailing

if __name__ == "__main__":
    mailing.main(result="mail_1m")
