# The back office for supporters, consent wording and their audit trail, and for the campaign
# and its stories, live in modules of their own.
from campaign import story_admin, supporter_admin  # noqa: F401
