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

# Each prints RESULT lines: ratios against a reference measured in the same run, and the load
# average before and after (the machine may be shared).
BENCHES = bench/webhooks.py bench/signups.py bench/statements.py bench/fanout.py bench/mailing.py \
	bench/export.py bench/scale.py bench/webhook_storm.py bench/mail_1m.py

bench: setup
	./scripts/setup --system
	@for script in $(BENCHES); do echo "== $$script"; started=$$(date +%s); \
		.venv/bin/python $$script || exit 1; \
		echo "== $$script took $$(( $$(date +%s) - started )) s"; done
