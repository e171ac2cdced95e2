"""auditlog's model_instance_diff for the two kinds of entry our own paths build (a row
inserted, a row saved with update_fields), with what depends only on the model worked out once
per model instead of once per row: which fields are compared, which are masked, and the old
side of an insert, which is always "None".

A drain batch builds an entry for each of its hundred ledger rows and donations; in a storm
model_instance_diff spent most of its time on those per-model steps and on the two exceptions
with which it finds each field of "no old row" empty (bench/webhook_storm.py).
tests/backoffice/test_audit_diff.py holds both to model_instance_diff on every audited model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from auditlog.diff import get_field_value, get_mask_function, track_field
from auditlog.registry import auditlog
from django.db.models import Field, ForeignKey, Model
from django.utils.encoding import smart_str

Changes = dict[str, tuple[str, str]]
Mask = Callable[[str], str] | None
# What get_field_value reads for every field of "no instance": its AttributeError path ends in
# smart_str(None).
_NO_ROW = "None"


def created_diff(new: Model) -> Changes | None:
    """model_instance_diff(None, new): every field with a value, from "None"."""
    diff: Changes = {}
    for field, mask in _compared(type(new), created=True, names=None):
        value = get_field_value(new, field)
        if value != _NO_ROW:
            diff[field.name] = _pair(_NO_ROW, value, mask)
    return diff or None


def updated_diff(old: Model, new: Model, names: Collection[str] | None) -> Changes | None:
    """model_instance_diff(old, new, fields_to_check=names) for two instances of one model."""
    diff: Changes = {}
    wanted = frozenset(names) if names else None
    for field, mask in _compared(type(new), created=False, names=wanted):
        before, after = get_field_value(old, field), get_field_value(new, field)
        if before != after:
            diff[field.name] = _pair(before, after, mask)
    return diff or None


def _pair(before: Any, after: Any, mask: Mask) -> tuple[str, str]:
    if mask is None:
        return smart_str(before), smart_str(after)
    return mask(smart_str(before)), mask(smart_str(after))


@functools.cache
def _compared(
    model: type[Model], *, created: bool, names: frozenset[str] | None
) -> tuple[tuple[Field[Any, Any], Mask], ...]:
    """The fields model_instance_diff compares for this model, in the model's order, each with
    its mask function or None. An insert's diff looks at get_fields() (reverse relations too);
    an update's at the concrete fields. The registry is complete once apps are ready."""
    fields: list[Any] = (
        [f for f in model._meta.get_fields() if track_field(f)]
        if created
        else list(model._meta.fields)
    )
    if names is not None:
        fields = [
            f
            for f in fields
            if (isinstance(f, ForeignKey) and f.attname in names) or f.name in names
        ]
    options = auditlog.get_model_fields(model)
    if options["include_fields"]:
        fields = [f for f in fields if f.name in options["include_fields"]]
    fields = [f for f in fields if f.name not in options["exclude_fields"]]
    mask = get_mask_function(options.get("mask_callable"))
    return tuple((f, mask if f.name in options["mask_fields"] else None) for f in fields)
