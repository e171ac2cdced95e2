from django.urls import path
from django.utils.translation import pgettext_lazy

from campaign import views

app_name = "campaign"
urlpatterns = [
    path("", views.landing, name="landing"),
    # Translated path: /verhalen/<slug>/ in Dutch, /en/stories/<slug>/ in English.
    path(pgettext_lazy("url", "stories/<slug:slug>/"), views.story_detail, name="story"),
]
