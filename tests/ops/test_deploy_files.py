"""The operator's files (Procfile, config/gunicorn.conf.py, deploy/) match the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from worker.routing import QUEUES

ROOT = Path(__file__).resolve().parents[2]


def test_the_procfile_runs_one_pool_per_queue_and_one_beat() -> None:
    lines = [
        line for line in (ROOT / "Procfile").read_text().splitlines() if line and line[0] != "#"
    ]
    consumed = [m for line in lines for m in re.findall(r"-Q (\S+)", line)]

    assert sorted(consumed) == sorted(QUEUES)  # every queue once, none unknown
    assert sum(" beat" in line for line in lines) == 1
    assert any(line.startswith("web: gunicorn -c config/gunicorn.conf.py") for line in lines)


def test_gunicorns_config_loads() -> None:
    env = dict(os.environ, WEB_CONCURRENCY="2")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            "--check-config",
            "config.wsgi",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
