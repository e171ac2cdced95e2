"""Events other apps listen to; campaign/ never imports them (dependencies point one way).

    from campaign.events import supporter_confirmed

    @receiver(supporter_confirmed)
    def enrol_in_welcome_sequence(sender, supporter_id, topics, first_time, **kwargs): ...

Receivers get ids, never model instances, and must be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

# Sent after the confirming transaction commits (double opt-in completed, or a topic added in
# the preference centre). kwargs: supporter_id, topics (newly confirmed), first_time (bool).
# Sent with send_robust: a failing receiver is logged and cannot undo the confirmation.
supporter_confirmed = Signal()

# Sent after commit once a supporter has no open consent left (one-click unsubscribe, the
# preference centre's "unsubscribe from everything", staff). kwargs: supporter_id, method.
# The send-time check does not depend on it: it reads campaign.selectors.supporter_may_receive.
supporter_unsubscribed = Signal()

# Sent INSIDE the erase transaction, before campaign scrubs its own rows. kwargs: supporter_id,
# pseudonym. A receiver replaces the person by the pseudonym in the rows it must keep (gifts:
# 7 years, Dutch fiscal law) and deletes the rest; if it raises, the whole erasure rolls back.
# See campaign/personal_data.py for the matching export side.
supporter_erased = Signal()

# Sent by donations INSIDE the transaction that records a gift, in a savepoint of its own: a
# receiver's writes commit with the gift (none lost to a crash after commit, no extra commit
# per gift), and a receiver that raises is logged and rolled back without holding up the
# money. Anything outside the database belongs in transaction.on_commit. kwargs: donation_id,
# supporter_id (or None), source_token (the signed token from the email link that brought the
# gift, or ""), first_gift (bool), frequency, amount (integer cents), currency (ISO, lower
# case). Mailing ends appeal sequences and credits the email, amount and all, in its own tables.
donation_succeeded = Signal()

# Several gifts booked in one transaction (a drain batch of the webhook inbox), sent once in
# one savepoint, instead of donation_succeeded for each: kwargs gifts, a list with each gift's
# donation_succeeded kwargs. If a receiver raises, donations rolls it back and sends
# donation_succeeded for each gift in its own savepoint. Receivers connect through
# gifts_connect, so each hears every gift once whichever way it was booked.
donations_succeeded = Signal()

# Sent by donations when the ledger books money going back on a gift (a refund, a dispute's
# withdrawal) or coming back (a dispute won), in the same transaction and savepoint pattern as
# donation_succeeded. kwargs: donation_id, donation_uuid (str), reversal (the ledger movement's
# Stripe id: re_... or the dispute's txn_...), kind ("refund", "dispute", "dispute_won"), amount
# (integer cents the gift lost: positive, or negative when a won dispute brings it back),
# currency. Sent again whenever the gift's refunds or disputes are seen again (a redelivered
# event, a second partial refund): a receiver counts each `reversal` once.
donation_reversed = Signal()


GiftReceiver = Callable[..., Any]


def gifts_connect(
    each: GiftReceiver, *, together: GiftReceiver | None = None, dispatch_uid: str
) -> None:
    """Connect a receiver of donation_succeeded to donations_succeeded too: `together(gifts=...)`
    takes a batch's gifts at once (one statement for all, say); without it, `each` is called
    for every gift of a batch, in order."""
    donation_succeeded.connect(each, dispatch_uid=dispatch_uid)

    def every_gift(sender: Any, gifts: list[dict[str, Any]], **kwargs: Any) -> None:
        for gift in gifts:
            each(sender=sender, **gift)

    donations_succeeded.connect(together or every_gift, weak=False, dispatch_uid=dispatch_uid)


def gifts_disconnect(*, dispatch_uid: str) -> None:
    """Undo gifts_connect."""
    donation_succeeded.disconnect(dispatch_uid=dispatch_uid)
    donations_succeeded.disconnect(dispatch_uid=dispatch_uid)
