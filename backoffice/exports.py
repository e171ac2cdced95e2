"""Finance exports in the background (issue #7): request, run, progress, expiry.

A request records an ExportJob and enqueues its run through the outbox, so the task is
published only once the job is committed (and later by the relay if Redis was down). The run
streams donations.exports' renderer straight into a private file (constant memory, however
many rows), writing progress to the job row once per EXPORT_PROGRESS_ROWS rows. A finished
file lives EXPORT_FILE_HOURS, then the periodic expiry deletes it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.crypto import salted_hmac

from backoffice.models import ExportDialect, ExportFormat, ExportJob, ExportState, export_storage
from donations.exports import (
    Dialect,
    Exporter,
    Format,
    PayoutExporter,
    Renderer,
    TransactionsExporter,
)
from worker.outbox import enqueue

log = structlog.get_logger(__name__)

RUN_TASK = "backoffice.tasks.export_run"


class ExportRequestError(ValueError):
    """A request that cannot become an export; the message says why, for the person."""


def exporter_for(identifier: str, params: dict[str, Any]) -> Exporter:
    """The exporter a job's identifier and params describe (ExportRequestError when not)."""
    if identifier == TransactionsExporter.identifier:
        try:
            since = date.fromisoformat(str(params["since"]))
            until = date.fromisoformat(str(params["until"]))
        except (KeyError, ValueError):
            raise ExportRequestError("a period needs a first and a last day (YYYY-MM-DD)") from None
        if until < since:
            raise ExportRequestError(f"the period ends ({until}) before it starts ({since})")
        return TransactionsExporter(since=since, until=until)
    if identifier == PayoutExporter.identifier:
        payout = str(params.get("payout") or "")
        if not payout.startswith("po_"):
            raise ExportRequestError(f"{payout!r} is not a Stripe payout id (po_...)")
        return PayoutExporter(payout=payout)
    raise ExportRequestError(f"unknown export {identifier!r}")


def export_request(
    *, user: Any, exporter: str, params: dict[str, Any], fmt: str, dialect: str = "default"
) -> ExportJob:
    """Record an export job and queue its run (after commit). Bad input raises
    ExportRequestError and records nothing."""
    if fmt not in ExportFormat.values:
        raise ExportRequestError(f"unknown format {fmt!r}: choose csv or xlsx")
    if dialect not in ExportDialect.values:
        raise ExportRequestError(f"unknown dialect {dialect!r}: choose default or nl")
    exporter_for(exporter, params)  # validates before anything is written
    with transaction.atomic():
        job = ExportJob.objects.create(
            requested_by=user if getattr(user, "pk", None) else None,
            exporter=exporter,
            params=params,
            format=fmt,
            dialect=dialect,
        )
        enqueue(RUN_TASK, job.pk)
    log.info("export.requested", job=job.pk, exporter=exporter, params=params, format=fmt)
    return job


class _ProgressWriter:
    """The renderer's progress callback: one UPDATE per `every` rows, not one per row.

    On a connection of its own: the export's connection is busy streaming the COPY (or the
    server-side cursor) and takes no other command until it ends. Autocommit, so the page
    polling the job sees each figure at once.
    """

    def __init__(self, job_id: int, every: int) -> None:
        self.job_id = job_id
        self.every = every
        self.written = 0
        self._connection: BaseDatabaseWrapper | None = None

    def __call__(self, rows: int) -> None:
        if rows - self.written < self.every:
            return
        self.written = rows
        if self._connection is None:
            self._connection = connection.copy()
        with self._connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ExportJob._meta.db_table} SET rows_done = %s WHERE id = %s",  # noqa: S608 - our table name
                [rows, self.job_id],
            )

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def _file_name(job: ExportJob) -> str:
    # Unguessable, unique even across databases sharing one folder (tests, staging), and the
    # same for every run of a job: a run delivered twice replaces the file, leaving no orphan
    # with donor data that the expiry would never find.
    stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M%S")
    key = salted_hmac(
        "backoffice.export-file", f"{job.pk}:{job.created_at.isoformat()}", algorithm="sha256"
    )
    return f"{job.exporter}-{stamp}-{job.pk}-{key.hexdigest()[:16]}.{job.format}"


def export_run(job_id: int) -> ExportJob | None:
    """Run a queued job (or re-run one whose worker died mid-way) into its private file.

    Returns the job, or None when there is nothing to do (unknown, finished or failed).
    """
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, state__in=[ExportState.QUEUED, ExportState.RUNNING])
            .first()
        )
        if job is None:
            return None
        exporter = exporter_for(job.exporter, job.params)
        job.state = ExportState.RUNNING
        job.started_at = timezone.now()
        job.rows_done = 0
        job.rows_total = exporter.count()
        job.save(update_fields=["state", "started_at", "rows_done", "rows_total"])

    storage = export_storage()
    name = _file_name(job)
    # Written in place, not through storage.save(): that would copy the whole file once more.
    # A partial file never carries the final name, so a crash leaves no half export to fetch.
    final = Path(storage.path(name))
    _private_folder(final.parent)
    # Each run writes its own partial file; only a complete one takes the final name.
    partial = final.with_suffix(f"{final.suffix}.{uuid.uuid4().hex[:8]}.part")
    progress = _ProgressWriter(job.pk, settings.EXPORT_PROGRESS_ROWS)
    renderer = Renderer(exporter, dialect=_dialect(job), progress=progress)
    try:
        with _private_file(partial) as out:
            rows = renderer.render(_format(job), out)
        os.replace(partial, final)
    finally:
        progress.close()
        partial.unlink(missing_ok=True)

    finished = timezone.now()
    job.file.name = name
    job.state = ExportState.DONE
    # What was written, which may differ from the count if rows were booked meanwhile.
    job.rows_done = job.rows_total = rows
    job.finished_at = finished
    job.expires_at = finished + timedelta(hours=settings.EXPORT_FILE_HOURS)
    job.save(
        update_fields=["file", "state", "rows_done", "rows_total", "finished_at", "expires_at"]
    )
    log.info("export.done", job=job.pk, rows=rows, file=name)
    return job


# The files hold donors' names and emails: only the account running the app may read them,
# whatever the umask (a shared host's other users, a backup agent reading world-readable files).
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _private_folder(folder: Path) -> None:
    folder.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER_MODE)  # also one made earlier, or by mkdir under a umask


def _private_file(path: Path) -> BinaryIO:
    """A new file only its owner can read: created 0600, never readable for a moment."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the umask may only have taken bits away
    return os.fdopen(descriptor, "wb")


def export_failed(job_id: int, error: str) -> None:
    """Record why a run failed; the person sees it on the job page and can ask again."""
    ExportJob.objects.filter(pk=job_id).exclude(state=ExportState.DONE).update(
        state=ExportState.FAILED, error=error[:2000], finished_at=timezone.now()
    )
    log.warning("export.failed", job=job_id, error=error)


def _format(job: ExportJob) -> Format:
    return "xlsx" if job.format == ExportFormat.XLSX else "csv"


def _dialect(job: ExportJob) -> Dialect:
    return "nl" if job.dialect == ExportDialect.NL else "default"


def export_is_expired(job: ExportJob, *, now: datetime | None = None) -> bool:
    return job.expires_at is not None and job.expires_at <= (now or timezone.now())


def export_file_delete(job: ExportJob) -> None:
    """Delete a job's file and forget its name (the job row stays as the record)."""
    if job.file.name:
        job.file.storage.delete(job.file.name)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        job.file.name = ""
        log.info("export.file_deleted", job=job.pk)


def export_files_expire(*, now: datetime | None = None) -> int:
    """Delete every export file past its expiry; returns how many. Idempotent."""
    expired = ExportJob.objects.exclude(file="").filter(expires_at__lte=now or timezone.now())
    count = 0
    for job in expired.iterator():
        export_file_delete(job)
        count += 1
    return count


@dataclass(frozen=True)
class Progress:
    """The JSON progress.js polls: {done, total, state, finished, label}."""

    done: int
    total: int
    state: str
    finished: bool
    label: str

    def as_json(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "total": self.total,
            "state": self.state,
            "finished": self.finished,
            "label": self.label,
        }


def export_progress(job: ExportJob) -> Progress:
    finished = job.state in (ExportState.DONE, ExportState.FAILED)
    return Progress(
        done=job.rows_done,
        total=job.rows_total,
        state=job.state,
        # The bar stops at a failure too; the page then shows the error instead of the link.
        finished=finished,
        label=str(job.get_state_display()),
    )
