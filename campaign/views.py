from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import get_object_or_404, render
from django.template import loader
from django.utils import formats

from campaign.forms import signup_form_for_page
from campaign.money import euros
from campaign.progress import campaign_progress
from campaign.selectors import campaign_current, stories_published


def landing(request: HttpRequest) -> HttpResponse:
    progress = campaign_progress()
    context = {
        "campaign": campaign_current(),
        "raised": euros(progress.raised_cents),
        "supporters": progress.supporters,
        "supporters_shown": formats.number_format(progress.supporters, force_grouping=True),
        "stories": stories_published(),
        "signup_form": signup_form_for_page(request),
    }
    return render(request, "campaign/landing.html", context)


def story_detail(request: HttpRequest, slug: str) -> HttpResponse:
    story = get_object_or_404(stories_published(), slug=slug)
    others = stories_published().exclude(pk=story.pk)[:3]
    context = {"story": story, "others": others, "signup_form": signup_form_for_page(request)}
    return render(request, "campaign/story.html", context)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 in the visitor's language (LocaleMiddleware has activated it from the URL)."""
    body = loader.render_to_string("404.html", {}, request)
    return HttpResponseNotFound(body)
