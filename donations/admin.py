"""Finance's view of the money: every gift, monthly gift, ledger row and Stripe event.

All read-only here. Stripe is the source of these rows and the ledger is append-only
(corrections are new rows written by the services, DESIGN.md invariant 3), so no role may add,
change or delete them through the back office; who may *view* them is the Finance and Admin
roles' `view_*` permission (backoffice/roles.py), which the admin checks on every URL.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from campaign.money import euros
from donations.models import (
    Donation,
    DonorNotice,
    PayoutLine,
    RecurringDonation,
    StripeCampaign,
    StripeEvent,
    Transaction,
)
from donations.notices import notices_retry


class EuroColumns:
    """Amount, fee and net (integer cents) as people write euros, in the page's language."""

    @admin.display(description=_("amount"), ordering="amount")
    def amount_euros(self, obj: Any) -> str:
        return euros(obj.amount)

    @admin.display(description=_("fee"), ordering="fee")
    def fee_euros(self, obj: Any) -> str:
        return euros(obj.fee)

    @admin.display(description=_("net"), ordering="net")
    def net_euros(self, obj: Any) -> str:
        return euros(obj.net)

    @admin.display(description=_("total"), ordering="total")
    def total_euros(self, obj: Any) -> str:
        return euros(obj.total)


# Integer cents on the models; their detail pages show the euro column in their place.
CENTS_FIELDS = {"amount", "fee", "net", "total"}


class ReadOnlyAdmin(EuroColumns, ModelAdmin):
    """View permission only: every field shown (amounts in euros), nothing added, changed or
    deleted."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        return [f"{name}_euros" if name in CENTS_FIELDS else name for name in fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        names = [f"{name}_euros" for name in CENTS_FIELDS]
        return [*super().get_readonly_fields(request, obj), *names]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TransactionInline(EuroColumns, TabularInline):
    model = Transaction
    extra = 0
    fields = ["occurred_at", "kind", "amount_euros", "fee_euros", "net_euros", "stripe_object"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Donation)
class DonationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "amount_display",
        "frequency",
        "method",
        "channel",
        "campaign",
        "status",
        "donor_name",
    ]
    list_filter = ["status", "frequency", "method", "channel", "campaign", "currency"]
    search_fields = ["donor_email", "stripe_payment_intent", "stripe_checkout_session", "uuid"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_select_related = ["supporter", "campaign"]
    inlines = [TransactionInline]
    # The one-time form token and the donor's address are not finance's business either.
    exclude = ["request_token", "client_ip"]

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Donation) -> str:
        return euros(obj.amount)


@admin.register(RecurringDonation)
class RecurringDonationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "amount_display",
        "state",
        "channel",
        "failed_payments",
        "next_payment_at",
    ]
    list_filter = ["state", "channel", "currency"]
    search_fields = ["donor_email", "stripe_subscription", "mandate_reference"]
    ordering = ["-created_at"]

    @admin.display(description=_("monthly amount"), ordering="amount")
    def amount_display(self, obj: RecurringDonation) -> str:
        return euros(obj.amount)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "amount_euros",
        "fee_euros",
        "net_euros",
        "currency",
        "stripe_object",
    ]
    list_filter = ["kind", "currency"]
    search_fields = ["stripe_object", "stripe_payment_intent", "stripe_payout"]
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    list_select_related = ["donation"]


@admin.register(PayoutLine)
class PayoutLineAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "payout",
        "type",
        "amount_euros",
        "fee_euros",
        "net_euros",
        "currency",
    ]
    list_filter = ["type", "currency"]
    search_fields = ["payout", "balance_transaction", "source"]
    ordering = ["-created_at", "-id"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "type", "stripe_id", "status", "via", "attempts"]
    list_filter = ["status", "via", "type"]
    search_fields = ["stripe_id", "type"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]


class NoticeStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("sent", _("sent")), ("waiting", _("waiting")), ("failing", _("failing"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        unsent = queryset.filter(sent_at__isnull=True)
        return {
            "sent": queryset.filter(sent_at__isnull=False),
            "waiting": unsent.filter(attempts=0),
            "failing": unsent.filter(attempts__gt=0),
        }.get(self.value() or "", queryset)


@admin.register(DonorNotice)
class DonorNoticeAdmin(ReadOnlyAdmin):
    """The transactional emails to donors (thanks, pre-debit notices, dunning): one that cannot
    be sent shows here with its last error and the time of its next attempt."""

    list_display = ["created_at", "kind", "state", "attempts", "sent_at", "next_attempt_at"]
    list_filter = [NoticeStateFilter, "kind"]
    search_fields = ["key", "donation__uuid", "recurring__uuid"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_select_related = ["donation", "recurring"]
    actions = ["send_again"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Trying an unsent email again changes no money and no consent: whoever may see the
        # donor emails may ask for that (once the mail server is fixed, say).
        return self.has_view_permission(request)

    @admin.action(description=_("Try sending again now"), permissions=["retry"])
    def send_again(self, request: HttpRequest, queryset: Any) -> None:
        count = notices_retry(notice_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, _("%(count)d email(s) will be sent again shortly.") % {"count": count}
        )

    @admin.display(description=_("state"))
    def state(self, obj: DonorNotice) -> str:
        if obj.sent_at is not None:
            return str(_("sent"))
        return str(
            _("failing: %(error)s") % {"error": obj.last_error} if obj.attempts else _("waiting")
        )


@admin.register(StripeCampaign)
class StripeCampaignAdmin(ModelAdmin):
    """Finance says which campaign the gifts of a Payment Link, price or product are for (the
    doors Stripe's dashboard makes without our metadata); applied when such a gift is booked."""

    list_display = ["stripe_id", "campaign", "note", "created_at"]
    list_select_related = ["campaign"]
    search_fields = ["stripe_id", "note", "campaign__slug"]
    fields = ["stripe_id", "campaign", "note"]


# Annual statements and periodic-gift agreements (issue #7) keep their admins in modules of
# their own; imported here so the admin's autodiscovery registers them.
from donations import agreement_admin, statement_admin  # noqa: E402, F401
