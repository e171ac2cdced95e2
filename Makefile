# One entry point; the README names these targets.
.PHONY: setup run test lint format bench

setup:
	./scripts/setup

run: setup
	.venv/bin/python -m config.runall

# The whole suite against real PostgreSQL, Redis, Celery workers, SMTP and Chromium.
test:
	./scripts/setup --system
	.venv/bin/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Each prints RESULT lines: ratios against a reference measured in the same run.
BENCHES = bench/webhooks.py bench/signups.py bench/statements.py bench/fanout.py bench/mailing.py bench/export.py

bench: setup
	./scripts/setup --system
	@for script in $(BENCHES); do echo "== $$script"; .venv/bin/python $$script || exit 1; done
