from django.apps import AppConfig


class CampaignConfig(AppConfig):
    name = "campaign"
    verbose_name = "Campaign"

    def ready(self) -> None:
        from campaign import inbound_mail, progress

        inbound_mail.connect()
        progress.connect()
