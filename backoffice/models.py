# The back office's own records. This module's presence also makes Django send post_migrate for
# this app, which re-applies the roles (backoffice/apps.py) after every migrate and flush.
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportFileStorage(FileSystemStorage):
    """settings.EXPORT_FILES_ROOT, read on each use (tests and workers point it elsewhere).

    Not MEDIA_ROOT and with no base URL: nothing serves these files but the download view.
    """

    @property  # a plain property, where Django caches the setting once
    def base_location(self) -> str:
        return str(settings.EXPORT_FILES_ROOT)

    @property
    def location(self) -> str:
        return str(Path(self.base_location).resolve())

    def url(self, name: Any) -> str:
        raise ValueError("export files have no public URL: use the download view")


def export_storage() -> ExportFileStorage:
    # Donor data: only the app's own account may read what goes through the storage too.
    return ExportFileStorage(file_permissions_mode=0o600, directory_permissions_mode=0o700)


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX (Excel)"


class ExportDialect(models.TextChoices):
    DEFAULT = "default", _("Standard (comma, decimal point)")
    NL = "nl", _("Dutch Excel (semicolon, decimal comma)")


class ExportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A finance export made in the background: what was asked, by whom, and its file.

    `exporter` is an identifier of donations.exports.EXPORTERS and `params` its arguments
    ({"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"} or {"payout": "po_..."}).
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    exporter = models.CharField(max_length=50)
    params = models.JSONField(default=dict)
    format = models.CharField(max_length=4, choices=ExportFormat.choices)
    dialect = models.CharField(
        max_length=10, choices=ExportDialect.choices, default=ExportDialect.DEFAULT
    )
    state = models.CharField(max_length=10, choices=ExportState.choices, default=ExportState.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    file = models.FileField(storage=export_storage, max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when the file is ready; after it the download answers 410 and the file is deleted.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="export_file_expiry_idx",
                condition=~models.Q(file=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.exporter} export #{self.pk} ({self.state})"
