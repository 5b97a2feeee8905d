"""Template tags of the console's pages that curation fills (the queue home on the first page)."""

from __future__ import annotations

from typing import Any

from django import template

from curation.ops.queue import QueueItem, queue_home

register = template.Library()


@register.simple_tag(takes_context=True)
def curation_queue(context: template.Context) -> list[QueueItem]:
    """The queue home for people who work the curation queues; nothing for other console users."""
    user: Any = context["request"].user
    if not user.has_perm("curation.view_application"):
        return []
    return queue_home()
