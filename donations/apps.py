from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DonationsConfig(AppConfig):
    name = "donations"
    verbose_name = _("Donations")

    def ready(self) -> None:
        from django.conf import settings

        from campaign.progress import register_raised_source
        from donations.personal_data import register_provider
        from donations.selectors import euros_raised

        register_provider()
        register_raised_source(euros_raised)
        if settings.PRODUCTION and settings.ALLOW_STRIPE_TEST_MODE:
            import structlog

            # A staging site on Stripe's test mode: say so in every process's log, so a
            # production site that was left this way is noticed.
            structlog.get_logger(__name__).warning(
                "stripe.test_mode_allowed", setting="ALLOW_STRIPE_TEST_MODE"
            )
