"""Settings, read from environment variables; one small module per integration."""

from .anymail import *  # noqa: F403
from .backoffice import *  # noqa: F403
from .base import *  # noqa: F403
from .celery import *  # noqa: F403
from .database import *  # noqa: F403
from .demo import *  # noqa: F403
from .donations import *  # noqa: F403
from .email import *  # noqa: F403
from .logging import *  # noqa: F403
from .mailing import *  # noqa: F403
from .metrics import *  # noqa: F403
from .proxy import *  # noqa: F403
from .redis import *  # noqa: F403
from .security import *  # noqa: F403
from .sentry import *  # noqa: F403
from .stripe import *  # noqa: F403
from .supporters import *  # noqa: F403
