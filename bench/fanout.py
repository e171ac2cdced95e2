"""Fan-out of a mailing due for 1,000,000 supporters: our server-side INSERT ... SELECT (segment,
consent and suppression applied in SQL) against a PostgreSQL COPY of the same ledger rows.

Prints RESULT fanout ratio=<ours/copy> target<=1.5.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, scratch_database

SUPPORTERS = int(os.environ.get("BENCH_FANOUT_SUPPORTERS", "1000000"))
# Extra supporters the fan-out must leave out: no consent, or a suppressed address.
WITHOUT_CONSENT = SUPPORTERS // 50
SUPPRESSED = SUPPORTERS // 100


def _populate(cursor: object) -> None:
    c = cursor
    total = SUPPORTERS + WITHOUT_CONSENT + SUPPRESSED
    c.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO campaign_supporter (email, first_name, language, status, created_at,
            updated_at, confirmed_at, pseudonym, source_page, source_referrer, utm_source,
            utm_medium, utm_campaign, utm_term, utm_content, link_secret, confirmation_nonce)
        SELECT 'fan-' || g || '@voorbeeld.nl', 'Sam', 'nl', 'active', now(), now(), now(), '',
               '', '', 'bench', '', '', '', '', substr(md5(g::text), 1, 12), ''
        FROM generate_series(1, %s) g
        """,
        [total],
    )
    c.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO campaign_consent (supporter_id, topic, text_id, method, given_at, user_agent,
            confirmed_at, confirmed_user_agent, withdrawn_method)
        SELECT s.id, 'stories',
               (SELECT max(id) FROM campaign_consenttext WHERE topic = 'stories'),
               'import', now(), '', now(), '', ''
        FROM campaign_supporter s
        WHERE s.id %% %s <> 0 OR s.id > %s
        """,
        [max(1, (SUPPORTERS + WITHOUT_CONSENT) // WITHOUT_CONSENT), SUPPORTERS + WITHOUT_CONSENT],
    )
    c.execute(  # type: ignore[attr-defined]
        """
        INSERT INTO mailing_suppression (email_hash, reason, detail, created_at)
        SELECT encode(sha256(convert_to(lower(email), 'UTF8')), 'hex'), 'hard_bounce', '', now()
        FROM campaign_supporter ORDER BY id DESC LIMIT %s
        """,
        [SUPPRESSED],
    )
    c.execute("ANALYZE")  # type: ignore[attr-defined]


def main() -> None:
    env = base_env()
    with scratch_database("bench_fanout", env) as url:
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.db import connection, transaction

        from mailing.models import Delivery, Mailing
        from mailing.services import mailing_fan_out, message_current

        started = time.perf_counter()
        with connection.cursor() as cursor:
            _populate(cursor)
        print(f"populated in {time.perf_counter() - started:.1f} s")
        mailing = Mailing.objects.create(
            name="bench", subject_nl="Bench", body_nl="Tekst", title_nl="T"
        )
        message = message_current(mailing)

        if os.environ.get("BENCH_FANOUT_EXPLAIN"):
            from mailing.segments import SegmentFilter
            from mailing.selectors import recipients

            sql, params = (
                recipients(segment=SegmentFilter(), topic="stories")
                .values_list("id", flat=True)
                .query.sql_with_params()
            )
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN ANALYZE {sql}", params)
                print("\n".join(row[0] for row in cursor.fetchall()))
        ours: list[float] = []
        copies: list[float] = []
        rows = 0
        for _ in range(2):
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE mailing_delivery CASCADE")
                cursor.execute("CHECKPOINT")
            started = time.perf_counter()
            with transaction.atomic():
                rows = mailing_fan_out(mailing)
            ours.append(time.perf_counter() - started)

            # The same rows, as COPY would load them: (message_id, supporter_id) from memory.
            buffer = io.BytesIO()
            with connection.cursor() as cursor:
                with cursor.copy(
                    "COPY (SELECT message_id, supporter_id FROM mailing_delivery) TO STDOUT"
                ) as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                cursor.execute("TRUNCATE mailing_delivery CASCADE")
                cursor.execute("CHECKPOINT")
            data = buffer.getvalue()
            started = time.perf_counter()
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.copy("COPY mailing_delivery (message_id, supporter_id) FROM STDIN") as copy,
            ):
                copy.write(data)
            copies.append(time.perf_counter() - started)
        assert rows == SUPPORTERS, (rows, SUPPORTERS)
        assert Delivery.objects.filter(message=message).count() == SUPPORTERS
        ratio = min(ours) / min(copies)
        print(f"fan-out INSERT ... SELECT: {min(ours):.2f} s for {rows} rows")
        print(f"COPY of the same rows: {min(copies):.2f} s")
        print(f"RESULT fanout ratio={ratio:.2f} target<=1.5")


if __name__ == "__main__":
    main()
