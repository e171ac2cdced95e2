from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignConfig(AppConfig):
    name = "campaign"
    verbose_name = _("Campaign")

    def ready(self) -> None:
        from django.conf import settings

        from campaign import inbound_mail, progress, wording

        inbound_mail.connect()
        progress.connect()
        wording.connect()
        if settings.PRODUCTION and not settings.MAILING_DKIM_KEY_FILE:
            import structlog

            # Production sends unsigned only when told to (MAILING_DKIM_OPTOUT): say so in
            # every process's log, so a site left this way is noticed.
            structlog.get_logger(__name__).warning(
                "mailing.dkim_opted_out", setting="MAILING_DKIM_OPTOUT"
            )
