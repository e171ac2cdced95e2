# The fixtures for this package's own tests; the rest of the suite gets them from
# tests/conftest.py (pytest_plugins = ["tests.fakestripe.fixtures"]).
from tests.fakestripe.fixtures import fake_stripe, webhook_target  # noqa: F401
