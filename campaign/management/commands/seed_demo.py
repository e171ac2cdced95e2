"""Create the demo campaign, its illustrative stories, a staff superuser and a marketing and a
finance account (logins and second factors printed). Safe to re-run."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.roles import ADMIN, FINANCE, MARKETING
from campaign import demo_content
from campaign.models import Campaign, Story

DEMO_ADMIN = "demo-admin"
# (what the printed line calls it, username, role): a superuser, and one account per role so a
# newcomer sees what marketing and finance staff see.
DEMO_STAFF = [
    ("Staff", DEMO_ADMIN, ADMIN),
    ("Marketing", "demo-marketing", MARKETING),
    ("Finance", "demo-finance", FINANCE),
]


class Command(BaseCommand):
    help = "Create (or update) the demo campaign, stories and staff superuser."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            campaign = self._campaign()
            count = self._stories(campaign)
            logins = [
                (label, username, self._staff(username, role))
                for label, username, role in DEMO_STAFF
            ]
        self.stdout.write(f"Demo content ready: campaign '{campaign.slug}', {count} stories.")
        for label, username, password in logins:
            if not password:
                continue
            device = self._second_factor(username)
            self.stdout.write(f"{label} login: {username} / {password}")
            # The back office asks for a second factor: add this URI to an authenticator app
            # (or paste it into one that accepts otpauth:// links), or use the code printed now.
            self.stdout.write(f"{label} second factor (TOTP): {device.config_url}")
            code = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
            self.stdout.write(f"{label} code right now (valid ~30 s): {code}")

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

    def _second_factor(self, username: str) -> TOTPDevice:
        """The account's authenticator device, kept across runs like its password."""
        user = get_user_model().objects.get(username=username)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        return device

    def _staff(self, username: str, role: str) -> str:
        """Keep one password per account and data folder, so every run prints the same working
        login. `role` is a group name (backoffice.roles), or ADMIN for the superuser."""
        secret_file = Path(settings.BASE_DIR) / "var" / f"{username}-password.txt"
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is not None and secret_file.exists():
            return secret_file.read_text().strip()
        password = secrets.token_urlsafe(12)
        if user is None:
            user = User(username=username, email=f"{username}@example.org")
        user.is_staff = True
        user.is_superuser = role == ADMIN
        user.set_password(password)
        user.save()
        if role != ADMIN:
            user.groups.set([Group.objects.get(name=role)])
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
        return password
