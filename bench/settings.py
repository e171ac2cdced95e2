"""Product settings plus the reference view's URL, for benchmarks only."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.reference"
