"""Objects by id, rendered like Stripe renders them: expandable fields, includable lists, pages."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from devstripe.encoding import tree_copy
from devstripe.errors import StripeAPIError, invalid, no_such
from devstripe.params import Params, as_int, check_known, expand_paths
from devstripe.templates import Obj

# Fields that hold an id and may be expanded into the object (dotted: inside a sub-hash).
EXPANDABLE: dict[str, set[str]] = {
    "checkout.session": {
        "customer",
        "invoice",
        "payment_intent",
        "payment_link",
        "setup_intent",
        "subscription",
    },
    "payment_intent": {
        "customer",
        "latest_charge",
        "payment_method",
        "application",
        "on_behalf_of",
        "review",
    },
    "charge": {
        "balance_transaction",
        "customer",
        "payment_intent",
        "application",
        "application_fee",
        "failure_balance_transaction",
        "on_behalf_of",
        "review",
        "source_transfer",
        "transfer",
    },
    "refund": {
        "balance_transaction",
        "charge",
        "payment_intent",
        "failure_balance_transaction",
        "source_transfer_reversal",
        "transfer_reversal",
    },
    "dispute": {"charge", "payment_intent"},
    "balance_transaction": {"source"},
    "payout": {
        "balance_transaction",
        "destination",
        "failure_balance_transaction",
        "original_payout",
        "reversed_by",
    },
    "invoice": {
        "customer",
        "default_payment_method",
        "default_source",
        "latest_revision",
        "on_behalf_of",
        "test_clock",
        "application",
    },
    "invoice_payment": {"invoice", "payment.payment_intent", "payment.charge"},
    "subscription": {
        "customer",
        "default_payment_method",
        "default_source",
        "latest_invoice",
        "pending_setup_intent",
        "schedule",
        "test_clock",
        "application",
        "on_behalf_of",
    },
    "mandate": {"payment_method"},
    "customer": {"default_source", "invoice_settings.default_payment_method", "test_clock"},
    "payment_method": {"customer"},
    "price": {"product"},
    "product": {"default_price"},
}
# Lists Stripe leaves out unless expanded (includable), built when asked for.
# Lists of ids stored here but always sent as full objects (never expandable).
EMBEDDED: dict[str, tuple[str, ...]] = {"dispute": ("balance_transactions",)}
MAX_EXPAND_DEPTH = 4


class Store:
    """Every object by id. Not locked itself: the server holds its one lock around all use."""

    def __init__(self) -> None:
        self._objects: dict[str, Obj] = {}
        # The same objects by kind: a list call looks at its own kind only (a storm's account
        # holds 25,000 charges among ~200,000 objects).
        self._kinds: dict[str, dict[str, Obj]] = {}
        self._order: dict[str, int] = {}
        # Each kind's ids by creation time, rebuilt after the kind changes: a list call with a
        # `created` range looks at that range only (the storm's drain pages charges by time).
        self._by_created: dict[str, tuple[int, list[int], list[str]]] = {}
        self._versions: dict[str, int] = {}
        self._counter = itertools.count()
        # Facts real Stripe keeps but does not show (e.g. which payout settled a transaction).
        self.private: dict[str, dict[str, Any]] = {}
        self.changed = False  # an object was added since the state last looked

    def restart_order(self, start: int) -> None:
        """After loading a saved account: new objects sort after every loaded one."""
        self._counter = itertools.count(start)

    def add(self, obj: Obj) -> Obj:
        self.changed = True
        self.load(obj)
        self._order[obj["id"]] = next(self._counter)
        self.private.setdefault(obj["id"], {})
        return obj

    def load(self, obj: Obj) -> None:
        """Hold the object (as `add`, without numbering it: a saved account brings its order)."""
        self._objects[obj["id"]] = obj
        self._kinds.setdefault(obj["object"], {})[obj["id"]] = obj
        self._versions[obj["object"]] = self._versions.get(obj["object"], 0) + 1

    def find(self, obj_id: str) -> Obj | None:
        return self._objects.get(obj_id)

    def get(self, obj_id: str, kind: str, param: str = "id") -> Obj:
        obj = self._objects.get(obj_id)
        if obj is None or obj["object"] != kind:
            raise no_such(kind, obj_id, param)
        return obj

    def of_kind(
        self,
        kind: str,
        where: Callable[[Obj], bool] = lambda o: True,
        created: tuple[int | None, int | None] = (None, None),
    ) -> list[Obj]:
        """Newest first, like every Stripe list; `created`: only those created in this range
        (either end inclusive, None for open)."""
        if created == (None, None):
            candidates: Iterable[Obj] = self._kinds.get(kind, {}).values()
        else:
            candidates = self._created_between(kind, *created)
        found = [o for o in candidates if where(o)]
        return sorted(
            found, key=lambda o: (o.get("created", 0), self._order[o["id"]]), reverse=True
        )

    def _created_between(self, kind: str, low: int | None, high: int | None) -> list[Obj]:
        objects = self._kinds.get(kind, {})
        version = self._versions.get(kind, 0)
        index = self._by_created.get(kind)
        if index is None or index[0] != version:
            ordered = sorted(objects.values(), key=lambda o: o.get("created", 0))
            index = (version, [o.get("created", 0) for o in ordered], [o["id"] for o in ordered])
            self._by_created[kind] = index
        _, times, ids = index
        start = 0 if low is None else bisect.bisect_left(times, low)
        end = len(times) if high is None else bisect.bisect_right(times, high)
        return [objects[i] for i in ids[start:end]]

    # -- rendering -------------------------------------------------------------------------

    def copy(self, obj: Obj) -> Obj:
        """A deep copy as Stripe sends it by default (embedded lists filled in)."""
        out = tree_copy(obj)
        for field in EMBEDDED.get(out.get("object", ""), ()):
            out[field] = [tree_copy(self._objects[i]) for i in out[field]]
        return out

    def render(self, obj: Obj, expand: Iterable[str] = ()) -> Obj:
        return self._expanded(self.copy(obj), expand)

    def _expanded(self, out: Obj, expand: Iterable[str]) -> Obj:
        """`out`, a copy of ours, with the paths expanded in place."""
        for path in expand:
            segments = path.split(".")
            if len(segments) > MAX_EXPAND_DEPTH:
                raise invalid(
                    f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                    f"Property: {path}",
                    param="expand",
                )
            self._expand(out, segments, path)
        return out

    def _expand(self, node: Any, segments: list[str], path: str) -> None:
        if node is None or not segments:
            return
        if not isinstance(node, dict):
            raise _not_expandable(path)
        if node.get("object") == "list":
            if segments[0] != "data" or len(segments) == 1:
                raise _not_expandable(path)
            for item in node["data"]:
                self._expand(item, segments[1:], path)
            return
        kind = node.get("object", "")
        for size in range(len(segments), 0, -1):
            field = ".".join(segments[:size])
            includer = INCLUDABLE.get(kind, {}).get(field)
            if includer or field in EXPANDABLE.get(kind, set()):
                break
        else:
            raise _not_expandable(path)
        container = node
        for key in segments[: size - 1]:
            container = container.get(key) or {}
        last = segments[size - 1]
        if includer is not None:
            container[last] = includer(self, node)
        elif isinstance(container.get(last), str):
            target = self._objects.get(container[last])
            if target is not None:
                container[last] = self.copy(target)
        self._expand(container.get(last), segments[size:], path)

    def list_page(
        self,
        items: list[Obj],
        params: Params,
        *,
        url: str,
        kind: str,
        filters: Iterable[str] = (),
    ) -> Obj:
        check_known(
            params, {"limit", "starting_after", "ending_before", "expand", "created", *filters}
        )
        limit = as_int(params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            bound = "greater than or equal to 1" if limit < 1 else "less than or equal to 100"
            raise invalid(f"This value must be {bound}.", param="limit")
        ids = [item["id"] for item in items]
        if params.get("starting_after"):
            cursor = params["starting_after"]
            if cursor not in ids:
                raise no_such(kind, cursor, "starting_after")
            start = ids.index(cursor) + 1
            window, has_more = items[start : start + limit], len(items) > start + limit
        elif params.get("ending_before"):
            cursor = params["ending_before"]
            if cursor not in ids:
                raise no_such(kind, cursor, "ending_before")
            end = ids.index(cursor)
            window, has_more = items[max(0, end - limit) : end], end - limit > 0
        else:
            window, has_more = items[:limit], len(items) > limit
        page = {
            "object": "list",
            "data": [self.copy(item) for item in window],
            "has_more": has_more,
            "url": url,
        }
        return self._expanded(page, expand_paths(params))  # copied already, item by item


def _not_expandable(path: str) -> StripeAPIError:
    return invalid(f"This property cannot be expanded ({path}).", param="expand")


def created_range(params: Params) -> tuple[int | None, int | None]:
    """The inclusive range of created_filter's `created=` (None: open), to look in."""
    value = params.get("created")
    if value is None:
        return None, None
    if not isinstance(value, dict):
        exact = as_int(value, "created")
        return exact, exact
    low, high = None, None
    for op, raw in value.items():
        bound = as_int(raw, f"created[{op}]")
        if op in ("gt", "gte"):
            bound += op == "gt"
            low = bound if low is None else max(low, bound)
        elif op in ("lt", "lte"):
            bound -= op == "lt"
            high = bound if high is None else min(high, bound)
    return low, high


def created_filter(params: Params) -> Callable[[Obj], bool]:
    """`created=123` or `created[gt|gte|lt|lte]=123`."""
    value = params.get("created")
    if value is None:
        return lambda obj: True
    if not isinstance(value, dict):
        exact = as_int(value, "created")
        return lambda obj: obj["created"] == exact
    check_known(value, {"gt", "gte", "lt", "lte"}, "created")
    bounds = {op: as_int(v, f"created[{op}]") for op, v in value.items()}

    def keep(obj: Obj) -> bool:
        created = obj["created"]
        return (
            created > bounds.get("gt", created - 1)
            and created >= bounds.get("gte", created)
            and created < bounds.get("lt", created + 1)
            and created <= bounds.get("lte", created)
        )

    return keep


def list_of(items: list[Obj], url: str) -> Obj:
    """An includable list as embedded in its parent (first 10, like Stripe)."""
    return {"object": "list", "data": items[:10], "has_more": len(items) > 10, "url": url}


def _charge_refunds(store: Store, charge: Obj) -> Obj:
    refunds = store.of_kind("refund", lambda r: r["charge"] == charge["id"])
    return list_of([store.copy(r) for r in refunds], f"/v1/charges/{charge['id']}/refunds")


def _invoice_payments(store: Store, invoice: Obj) -> Obj:
    payments = store.of_kind("invoice_payment", lambda p: p["invoice"] == invoice["id"])
    url = f"/v1/invoice_payments?invoice={invoice['id']}"
    return list_of([store.copy(p) for p in payments], url)


def _session_line_items(store: Store, session: Obj) -> Obj:
    items = store.private[session["id"]].get("line_items", [])
    url = f"/v1/checkout/sessions/{session['id']}/line_items"
    return list_of([store.copy(i) for i in items], url)


Includer = Callable[[Store, Obj], Obj]
# Lists Stripe leaves out unless expanded (includable), built when asked for.
INCLUDABLE: dict[str, dict[str, Includer]] = {
    "charge": {"refunds": _charge_refunds},
    "invoice": {"payments": _invoice_payments},
    "checkout.session": {"line_items": _session_line_items},
}
