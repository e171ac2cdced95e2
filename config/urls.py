from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(settings.ADMIN_PATH, admin.site.urls),
]
urlpatterns += i18n_patterns(
    path("", include("campaign.urls")),
    prefix_default_language=False,
)

handler404 = "campaign.views.not_found"
