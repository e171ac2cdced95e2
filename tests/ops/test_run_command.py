"""The README's run command, in a fresh copy of the repository with no environment set."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from config.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
# A fresh clone's first start: set-up, embedded servers, migrations and the demo's seeded
# months of gifts (201-233 s measured at load average 20 on this 2-core machine).
START_BUDGET_S = 300
pytestmark = pytest.mark.slow


def _fresh_clone(target: Path) -> None:
    """Exactly the files a clone of the working tree would have (tracked + new, not ignored)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


_OUR_PREFIXES = (
    "DATABASE_",
    "REDIS_",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "EMAIL_",
    "DEFAULT_FROM_EMAIL",
    "STRIPE_",
    "APP_ENV",
    "LOG_",
    "DJANGO_",
    "CELERY_",
    "OUTBOX_",
    "MAILING_",
    "DONATION",
    "INBOX_",
    "DUNNING_",
    "DECLINE_",
    "RECURRING_",
    "BACKOFFICE_",
    "SUPPORTERS_",
    "ANYMAIL_",
    "OTP_",
    "SESSION_",
    "DB_",
    "ADMIN_PATH",
    "MEDIA_ROOT",
    "PORT",
    "PYTEST_",
    "VIRTUAL_ENV",
)


def _ours(key: str) -> bool:
    return key.startswith(_OUR_PREFIXES)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


def _start(
    clone: Path, port: int, budget: float = START_BUDGET_S
) -> tuple[subprocess.Popen[bytes], float]:
    # The machine's own environment (certificates, locale, PATH) but none of the project's
    # variables: no DATABASE_URL, REDIS_URL, Stripe, mail or test-harness settings.
    env = {key: value for key, value in os.environ.items() if not _ours(key)}
    env["PORT"] = str(port)
    log_path = clone / "run.log"
    earlier = log_path.stat().st_size if log_path.exists() else 0  # a second run appends
    log = log_path.open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = started + budget
    while time.monotonic() < deadline:
        # "serving" is printed only once the site answers: a newcomer who opens the page at
        # that line gets it (it used to come ~20 s before gunicorn answered).
        if b"[run] serving" in log_path.read_bytes()[earlier:]:
            assert _get(f"{base}/healthz") == 200, (clone / "run.log").read_text()[-5000:]
            assert _get(f"{base}/") == 200
            return process, time.monotonic() - started
        assert process.poll() is None, (clone / "run.log").read_text()[-5000:]
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"not serving within {budget}s:\n{(clone / 'run.log').read_text()[-5000:]}")


THANKS_SUBJECT = "Dank je wel voor je gift"  # donations/email/thanks_subject.txt, in Dutch


def _give_through_the_local_checkout(base: str) -> tuple[str, bool]:
    """A donor in the demo: the donate form, the local Stripe's checkout page, Pay; then the
    thank-you page (until the webhook is booked) and the thank-you email in the demo mailbox."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/doneer/", timeout=30).read().decode()
    fields = {
        name: re.search(rf'name="{name}" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
        for name in ("csrfmiddlewaretoken", "form_token")
    }
    data = {**fields, "frequency": "one_off", "amount": "2500", "method": "ideal", "website": ""}
    checkout = opener.open(
        urllib.request.Request(
            f"{base}/doneer/",
            data=urllib.parse.urlencode(data).encode(),
            headers={"Referer": f"{base}/doneer/"},
        ),
        timeout=30,
    )
    assert "/pay/" in checkout.url, checkout.url  # redirected to the local hosted checkout
    pay = urllib.parse.urlencode({"action": "pay", "method": "ideal"}).encode()
    thanks_url = opener.open(urllib.request.Request(checkout.url, data=pay), timeout=30).url
    page = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "status-paid" not in page:
        page = opener.open(thanks_url, timeout=30).read().decode()
        time.sleep(1)
    mailed = False
    while time.monotonic() < deadline and not mailed:
        listing = opener.open(f"{base}/demo/mailbox/", timeout=30).read().decode()
        mailed = THANKS_SUBJECT in listing
        time.sleep(1)
    return page, mailed


def _ctrl_c(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """Send SIGINT to the whole group, as a terminal does on Ctrl-C; return what survived."""
    children = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(90)
    _, alive = psutil.wait_procs(children, timeout=30)
    return alive


@pytest.fixture
def clone() -> Iterator[Path]:
    """Outside pytest's tmp_path: the embedded PostgreSQL runs as an unprivileged user that
    must reach its data folder, and every pytest session resets /tmp/pytest-of-root to 0700
    (a second pytest run on the machine would lock the running server out of its files)."""
    path = Path(tempfile.mkdtemp(prefix="sts-clone-"))
    yield path / "clone"
    shutil.rmtree(path, ignore_errors=True)


def test_run_command_serves_from_a_fresh_clone_and_stops_cleanly(clone: Path) -> None:
    _fresh_clone(clone)
    port = free_port()

    process, first_start = _start(clone, port)
    landing = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
    password_file = clone / "var" / "demo-admin-password.txt"
    password = password_file.read_text()
    mailbox = _get(f"http://127.0.0.1:{port}/demo/mailbox/")
    thanks_page, thanks_mail = _give_through_the_local_checkout(f"http://127.0.0.1:{port}")
    alive = _ctrl_c(process)

    assert mailbox == 200
    # The demo takes gifts: the local checkout's Pay, a signed webhook, the worker books it.
    assert "status-paid" in thanks_page, thanks_page[-3000:]
    assert thanks_mail, "no thank-you in the demo mailbox"
    assert "/demo/mailbox/" in (clone / "run.log").read_text()
    assert "Save the Survivors" in landing
    assert "Samuel" in landing  # a demo story
    assert alive == [], f"still running after Ctrl-C: {alive}"
    first_log = (clone / "run.log").read_text()
    assert "Staff login: demo-admin / " in first_log
    # The demo's traffic is seeded once, before "serving" (README).
    assert first_log.index("Demo gifts ready:") < first_log.index("[run] serving")
    assert first_log.index("Demo mailing read:") < first_log.index("[run] serving")

    # A second run reuses the data folder: same database, same staff login.
    process, second_start = _start(clone, port)
    alive = _ctrl_c(process)

    assert alive == []
    assert password_file.read_text() == password
    second_log = (clone / "run.log").read_text()[len(first_log) :]
    assert "Demo gifts already there: nothing added." in second_log
    assert "Demo mailing already read: nothing added." in second_log
    print(f"run command ready in {first_start:.1f}s (fresh), {second_start:.1f}s (second run)")
