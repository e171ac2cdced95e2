from django.urls import path
from django.utils.translation import pgettext_lazy

from campaign import supporter_views, views

app_name = "campaign"
urlpatterns = [
    path("", views.landing, name="landing"),
    # Translated path: /verhalen/<slug>/ in Dutch, /en/stories/<slug>/ in English.
    path(pgettext_lazy("url", "stories/<slug:slug>/"), views.story_detail, name="story"),
    # Supporters (issue #3): /aanmelden/... and /voorkeuren/... in Dutch.
    path(pgettext_lazy("url", "signup/"), supporter_views.signup, name="signup"),
    path(
        pgettext_lazy("url", "signup/thanks/"), supporter_views.signup_thanks, name="signup_thanks"
    ),
    path(
        pgettext_lazy("url", "signup/send-again/"),
        supporter_views.signup_resend,
        name="signup_resend",
    ),
    path(
        pgettext_lazy("url", "signup/confirm/<str:token>/"),
        supporter_views.signup_confirm,
        name="signup_confirm",
    ),
    path(
        pgettext_lazy("url", "preferences/<str:token>/"),
        supporter_views.preferences,
        name="preferences",
    ),
    path(
        pgettext_lazy("url", "preferences/<str:token>/data/"),
        supporter_views.preferences_data,
        name="preferences_data",
    ),
    path(
        pgettext_lazy("url", "preferences/<str:token>/erase/"),
        supporter_views.preferences_erase,
        name="preferences_erase",
    ),
    # The short-lived personal-data links (campaign/data_links.py), e.g. /mijn-gegevens/....
    path(
        pgettext_lazy("url", "my-data/download/<str:token>/"),
        supporter_views.data_export,
        name="data_export",
    ),
    path(
        pgettext_lazy("url", "my-data/erase/<str:token>/"),
        supporter_views.data_erase,
        name="data_erase",
    ),
]
