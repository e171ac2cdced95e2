"""The hosted Checkout page a browser opens at session.url: amount, mode, methods, Pay / Fail."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from devstripe import checkout, methods
from devstripe.state import State
from devstripe.templates import Obj

LABELS = {
    "card": "Card",
    "ideal": "iDEAL",
    "bancontact": "Bancontact",
    "sepa_debit": "SEPA Direct Debit",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "button{font-size:1rem;padding:.6rem 1.4rem;margin-right:.6rem}"
    "fieldset{margin:1rem 0}.amount{font-size:2rem;font-weight:bold}"
)


def euros(cents: int) -> str:
    return f"€{cents // 100},{cents % 100:02d}"


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    ).encode()


def show(st: State, session: Obj) -> bytes:
    if session["status"] != "open":
        return _page(
            "Checkout",
            f'<h1>This Checkout Session is no longer open</h1><p data-testid="status">'
            f"{escape(session['status'])}</p>",
        )
    monthly = session["mode"] == "subscription"
    items = st.store.private[session["id"]]["line_items"]
    lines = "".join(
        f"<li>{escape(item['description'])} x {item['quantity']}: "
        f"{euros(item['amount_total'])}</li>"
        for item in items
    )
    choices = "".join(
        f'<label><input type="radio" name="method" value="{kind}"'
        f"{' checked' if index == 0 else ''}> {LABELS[kind]}</label><br>"
        for index, kind in enumerate(session["payment_method_types"])
    )
    body = (
        f"<h1>devstripe Checkout</h1>"
        f"<p><small>Local test checkout for development: no money moves.</small></p>"
        f'<p class="amount" data-testid="amount">{euros(session["amount_total"])}'
        f"{' per month' if monthly else ''}</p>"
        f'<p data-testid="mode">{"Monthly subscription" if monthly else "One-off payment"}'
        f" ({escape(session['mode'])})</p><ul>{lines}</ul>"
        f'<form method="post"><fieldset><legend>Payment method</legend>{choices}</fieldset>'
        f'<button type="submit" name="action" value="pay">Pay</button>'
        f'<button type="submit" name="action" value="fail">Fail</button></form>'
    )
    return _page("Checkout", body)


def submit(st: State, session: Obj, form: bytes) -> tuple[int, dict[str, str], bytes]:
    """Pay or fail as the donor chose; redirect like Checkout does (303 to the URL)."""
    fields = {key: values[0] for key, values in parse_qs(form.decode()).items()}
    method = fields.get("method") or session["payment_method_types"][0]
    if session["status"] != "open":
        return 200, {}, show(st, session)
    pay = fields.get("action") == "pay"
    delayed = method in methods.ASYNC_METHODS
    if delayed and st.settle_after is not None:
        # The demo: the debit is processing, then clears (Pay) or bounces (Fail) by itself,
        # as Stripe's test IBANs do; the donor is back on the thank-you page meanwhile.
        checkout.complete(st, session["id"], "processing", method)
        checkout.settle_later(st, session["id"], succeed=pay)
    elif pay:
        # A SEPA debit is "processing" for days: a test settles it with settle().
        checkout.complete(st, session["id"], "processing" if delayed else "paid", method)
    else:
        checkout.complete(st, session["id"], "failed", method)
    # Back to the site: its thank-you page once the session completed, else the cancel page.
    completed = session["status"] == "complete"
    target = session["success_url"] if completed else session["cancel_url"]
    if target and completed:
        target = target.replace("{CHECKOUT_SESSION_ID}", session["id"])
    if not target:
        return 200, {}, _page("Checkout", "<h1>Done</h1>")
    return 303, {"Location": target}, b""
