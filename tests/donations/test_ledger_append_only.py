"""Migration 0002: PostgreSQL itself refuses to change or delete a ledger row."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from donations.models import Transaction, TransactionKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def row() -> Transaction:
    return Transaction.objects.create(
        kind=TransactionKind.GIFT, amount=2500, fee=29, net=2471, currency="eur",
        stripe_object="py_append_only", occurred_at=timezone.now(),
    )  # fmt: skip


def test_a_ledger_row_cannot_be_updated(row: Transaction) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).update(description="edited")
    row.refresh_from_db()
    assert row.description == ""


def test_a_ledger_row_cannot_be_deleted(row: Transaction) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Transaction.objects.filter(pk=row.pk).delete()
    assert Transaction.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db(transaction=True)  # the row committed, as before a real flush
def test_truncate_still_empties_it_for_test_flushes(row: Transaction) -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE donations_transaction CASCADE")
    assert not Transaction.objects.exists()
