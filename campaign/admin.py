# The back office for supporters, consent wording and their audit trail lives in its own module.
from campaign import supporter_admin  # noqa: F401
