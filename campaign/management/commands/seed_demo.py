"""Create the demo campaign, its illustrative stories and a staff superuser. Safe to re-run."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaign import demo_content
from campaign.models import Campaign, Story

DEMO_ADMIN = "demo-admin"


class Command(BaseCommand):
    help = "Create (or update) the demo campaign, stories and staff superuser."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            campaign = self._campaign()
            count = self._stories(campaign)
            password = self._superuser()
            device = self._second_factor()
        self.stdout.write(f"Demo content ready: campaign '{campaign.slug}', {count} stories.")
        if password:
            self.stdout.write(f"Staff login: {DEMO_ADMIN} / {password}")
            # The back office asks for a second factor: add this URI to an authenticator app
            # (or paste it into one that accepts otpauth:// links), or use the code printed now.
            self.stdout.write(f"Staff second factor (TOTP): {device.config_url}")
            code = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
            self.stdout.write(f"Staff code right now (valid ~30 s): {code}")

    def _campaign(self) -> Campaign:
        fields = dict(demo_content.CAMPAIGN)
        slug = fields.pop("slug")
        campaign, _ = Campaign.objects.update_or_create(slug=slug, defaults=fields)
        return campaign

    def _stories(self, campaign: Campaign) -> int:
        for story in demo_content.STORIES:
            fields = dict(story)
            slug = fields.pop("slug")
            Story.objects.update_or_create(
                slug=slug,
                defaults={
                    **fields,
                    "campaign": campaign,
                    "is_published": True,
                    "is_illustrative": True,
                },
            )
        return len(demo_content.STORIES)

    def _second_factor(self) -> TOTPDevice:
        """The demo admin's authenticator device, kept across runs like its password."""
        user = get_user_model().objects.get(username=DEMO_ADMIN)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        return device

    def _superuser(self) -> str:
        """Keep one password per data folder, so every run prints the same working login."""
        secret_file = Path(settings.BASE_DIR) / "var" / "demo-admin-password.txt"
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        User = get_user_model()
        user = User.objects.filter(username=DEMO_ADMIN).first()
        if user is not None and secret_file.exists():
            return secret_file.read_text().strip()
        password = secrets.token_urlsafe(12)
        if user is None:
            user = User(username=DEMO_ADMIN, email="demo-admin@example.org")
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
        return password
