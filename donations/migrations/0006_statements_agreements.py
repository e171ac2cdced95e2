"""Annual statements (runs and per-donor rows) and ANBI periodic-gift agreements.

Agreement transaction numbers ("STS-2026-000123") count from their own sequence: gap-free
numbering is not required, uniqueness under concurrent creation is.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaign", "0004_consent_methods_mailto_complaint"),
        ("donations", "0005_drop_unused_thanked_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StatementRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("year", models.PositiveSmallIntegerField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("preparing", "preparing"),
                            ("sending", "sending"),
                            ("done", "done"),
                            ("failed", "failed"),
                        ],
                        default="preparing",
                        max_length=10,
                    ),
                ),
                ("total", models.PositiveIntegerField(default=0)),
                ("done", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "annual statement run",
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="AnnualStatement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("year", models.PositiveSmallIntegerField()),
                ("donor_email", models.EmailField(blank=True, max_length=254)),
                ("donor_name", models.CharField(blank=True, max_length=200)),
                ("language", models.CharField(default="nl", max_length=2)),
                ("gifts", models.PositiveIntegerField(default=0)),
                ("total", models.BigIntegerField(default=0, help_text="cents")),
                ("currency", models.CharField(default="eur", max_length=3)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("message_id", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "supporter",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="annual_statements",
                        to="campaign.supporter",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="statements",
                        to="donations.statementrun",
                    ),
                ),
            ],
            options={
                "verbose_name": "annual statement",
                "ordering": ["year", "donor_email"],
            },
        ),
        migrations.CreateModel(
            name="PeriodicGiftAgreement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("transaction_number", models.CharField(max_length=32, unique=True)),
                ("yearly_amount", models.PositiveIntegerField(help_text="cents a year")),
                ("currency", models.CharField(default="eur", max_length=3)),
                ("start_year", models.PositiveSmallIntegerField()),
                ("term_years", models.PositiveSmallIntegerField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("draft", "awaiting signature"),
                            ("signed", "signed"),
                            ("cancelled", "cancelled"),
                        ],
                        default="draft",
                        max_length=10,
                    ),
                ),
                ("charity_name", models.CharField(max_length=200)),
                ("charity_rsin", models.CharField(max_length=9)),
                ("mandate_reference", models.CharField(blank=True, max_length=100)),
                ("donor_name", models.CharField(max_length=200)),
                ("donor_email", models.EmailField(blank=True, max_length=254)),
                ("donor_address", models.TextField(blank=True)),
                ("donor_birth_date", models.DateField(blank=True, null=True)),
                ("donor_birth_place", models.CharField(blank=True, max_length=100)),
                ("language", models.CharField(default="nl", max_length=2)),
                ("signed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "recurring",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="agreements",
                        to="donations.recurringdonation",
                    ),
                ),
            ],
            options={
                "verbose_name": "periodic gift agreement",
                "ordering": ["-created_at"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("term_years__gte", 5)),
                        name="agreement_term_at_least_five_years",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("yearly_amount__gt", 0)),
                        name="agreement_amount_positive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("state", "signed"), _negated=True),
                            ("signed_at__isnull", False),
                            _connector="OR",
                        ),
                        name="agreement_signed_has_date",
                    ),
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="statementrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ["preparing", "sending"])),
                fields=("year",),
                name="statement_run_one_active_per_year",
            ),
        ),
        migrations.AddIndex(
            model_name="annualstatement",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", True)),
                fields=["year"],
                name="statement_unsent_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="annualstatement",
            constraint=models.UniqueConstraint(
                condition=models.Q(("donor_email", ""), _negated=True),
                fields=("year", "donor_email"),
                name="statement_once_per_donor_year",
            ),
        ),
        migrations.RunSQL(
            "CREATE SEQUENCE donations_agreement_number_seq START 1",
            reverse_sql="DROP SEQUENCE IF EXISTS donations_agreement_number_seq",
        ),
    ]
