"""The dashboard on the admin index: counts and the expiry timeline, for staff who may see credentials."""

from django import template
from django.utils import timezone

from keys import dashboard

register = template.Library()


@register.inclusion_tag("admin/keys/dashboard.html", takes_context=True)
def credential_dashboard(context):
    request = context.get("request")
    if request is None or not request.user.has_perm("keys.view_credential"):
        return {"show": False}
    now = timezone.now()
    return {"show": True, "tiles": dashboard.tiles(now), "timeline": dashboard.timeline(now)}
