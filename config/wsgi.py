import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# As django.core.wsgi.get_wsgi_application, with Stripe's webhook past the middleware it has no
# use for (config/lean_routes.py).
django.setup(set_prefix=False)

from config.lean_routes import LeanRoutesHandler  # noqa: E402 - needs the settings set up

application = LeanRoutesHandler()
