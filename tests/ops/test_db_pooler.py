"""DB_POOLER: behind PgBouncer in transaction pooling nothing may outlive a transaction on the
server, so the setting turns off server-side cursors and prepared statements; unset, a direct
connection keeps both. A misspelled value stops start-up naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.harness.processes import ROOT

_SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "d = s.DATABASES['default']; print(json.dumps([d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
    "d['OPTIONS'].get('prepare_threshold', 'default'), s.DB_TRANSACTION_POOLING]))"
)


def _run(pooler: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DB_POOLER"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    if pooler is not None:
        env["DB_POOLER"] = pooler
    return subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pooler", "expected"),
    [
        ("pgbouncer", [True, None, True]),
        ("none", [False, "default", False]),
        (None, [False, "default", False]),
    ],
)
def test_the_pooler_setting_turns_off_what_transaction_pooling_breaks(
    pooler: str | None, expected: list[object]
) -> None:
    result = _run(pooler)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected


@pytest.mark.parametrize("spelling", ["PgBouncer", "pgbouncer-transaction", ""])
def test_a_misspelled_pooler_stops_start_up_naming_it(spelling: str) -> None:
    result = _run(spelling)

    assert result.returncode != 0
    assert "DB_POOLER" in result.stderr
