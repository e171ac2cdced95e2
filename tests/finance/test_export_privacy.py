"""Export files hold donors' names and emails: only the app's own account may read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from backoffice.exports import export_request, export_run
from backoffice.models import ExportJob, export_storage
from backoffice.roles import FINANCE
from tests.factories import UserFactory
from tests.finance.ledger_rows import FIRST_DAY, LAST_DAY, ledger_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most careless umask a host can have: nothing taken away."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_export() -> ExportJob:
    ledger_rows(3)
    user = UserFactory()
    user.groups.add(Group.objects.get(name=FINANCE))
    job = export_request(
        user=user,
        exporter="transactions",
        params={"since": FIRST_DAY.isoformat(), "until": LAST_DAY.isoformat()},
        fmt="csv",
        dialect="nl",
    )
    assert export_run(job.pk) is not None
    job.refresh_from_db()
    return job


@pytest.mark.usefixtures("open_umask")
@pytest.mark.parametrize("folder_existed", [False, True])
def test_the_file_is_0600_and_its_folder_0700(
    settings: Any, tmp_path: Path, folder_existed: bool
) -> None:
    folder = tmp_path / "private" / "exports"
    settings.EXPORT_FILES_ROOT = folder
    if folder_existed:
        folder.mkdir(parents=True, mode=0o755)
        folder.chmod(0o755)

    job = run_export()

    assert mode(folder / job.file.name) == 0o600
    assert mode(folder) == 0o700
    assert [path.name for path in folder.iterdir()] == [job.file.name]  # no partial left


@pytest.mark.usefixtures("open_umask")
def test_files_saved_through_the_storage_are_private_too(settings: Any, tmp_path: Path) -> None:
    settings.EXPORT_FILES_ROOT = tmp_path / "exports"

    name = export_storage().save("sub/export.csv", ContentFile(b"name,email\n"))

    assert mode(tmp_path / "exports" / name) == 0o600
    assert mode(tmp_path / "exports" / "sub") == 0o700


def test_the_export_command_writes_its_file_for_the_operator_only(
    open_umask: None, tmp_path: Path
) -> None:
    from django.core.management import call_command

    ledger_rows(3)
    target = tmp_path / "books.csv"
    target.write_text("an older export, readable by all\n")
    target.chmod(0o644)

    call_command(
        "export_transactions",
        "--since",
        FIRST_DAY.isoformat(),
        "--until",
        LAST_DAY.isoformat(),
        "--format",
        "csv",
        "--output",
        str(target),
    )

    assert mode(target) == 0o600
    assert "an older export" not in target.read_text()
