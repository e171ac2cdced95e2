"""Names the back office shows for fields and models nobody named: translated.

A model field without a verbose_name gets Django's default, its attribute name with spaces
("created at"), a plain string that no catalogue can translate; the same holds for a model's
default verbose_name ("recurring donation") and for third-party models (django-otp's devices,
passkeys). Wrapping those defaults in gettext_lazy, once the apps are loaded, lets the
project's catalogue (locale/nl) give them their Dutch names without touching every model.

Migrations are unaffected: they record only the names a model states itself
(Field._verbose_name, Options.original_attrs), and those are left as they are.
"""

from __future__ import annotations

from django.apps import apps
from django.utils.translation import gettext_lazy


def translate_default_names() -> None:
    for model in apps.get_models():
        opts = model._meta
        raw = opts.verbose_name_raw  # English, also for the permission names
        if "verbose_name" not in opts.original_attrs:
            opts.verbose_name = gettext_lazy(raw)
        if "verbose_name_plural" not in opts.original_attrs:
            # Django's default plural appends "s" to the *translated* name ("gifts" after
            # a Dutch noun): the English plural as a msgid of its own instead.
            opts.verbose_name_plural = gettext_lazy(f"{raw}s")
        for field in opts.fields + opts.many_to_many:
            # _verbose_name: the name the model itself states (None: Django made it up).
            stated = getattr(field, "_verbose_name", None)
            if stated is None and isinstance(field.verbose_name, str):
                field.verbose_name = gettext_lazy(field.verbose_name)
