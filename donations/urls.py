from django.urls import path
from django.utils.translation import pgettext_lazy

from donations import views

app_name = "donations"
# Mounted at /doneer/ (Dutch) and /en/donate/ (English) by config/urls.py; the paths below are
# translated the same way: /doneer/bedankt/<uuid>/, /en/donate/thanks/<uuid>/.
urlpatterns = [
    path("", views.donate, name="donate"),
    path(pgettext_lazy("url", "thanks/<uuid:donation_uuid>/"), views.thanks, name="thanks"),
    # The signed token holds ":" and base64 characters, never "/".
    path(pgettext_lazy("url", "manage/<str:token>/"), views.manage, name="manage"),
]
