# The fixtures for this package's own tests; the rest of the suite gets them from
# tests/conftest.py (pytest_plugins = ["devstripe.fixtures"]).
from devstripe.fixtures import fake_stripe, webhook_target  # noqa: F401
