from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailingConfig(AppConfig):
    name = "mailing"
    verbose_name = _("Mailing")

    def ready(self) -> None:
        from mailing import esp_events, personal_data, receivers

        receivers.connect()
        esp_events.connect()
        personal_data.register_providers()
