"""The red banner on the admin dashboard while the scheduler has stopped."""

from django import template
from django.db import DatabaseError
from django.utils import timezone

from portal import health

register = template.Library()


@register.inclusion_tag("admin/scheduler_banner.html")
def scheduler_banner():
    try:
        stale = health.stale_beats(timezone.now())
    except DatabaseError:
        stale = []
    return {"stale": stale}
