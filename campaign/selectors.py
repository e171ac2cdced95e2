from campaign.models import Campaign, Story, StoryQuerySet


def campaign_current() -> Campaign | None:
    """The campaign the public site shows: the newest active one."""
    return Campaign.objects.filter(is_active=True).order_by("-created_at").first()


def stories_published() -> StoryQuerySet:
    return Story.objects.published().select_related("campaign")
