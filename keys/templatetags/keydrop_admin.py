"""The admin's small pieces of credential HTML, for its list columns and its templates alike,
and the dashboard on the admin index."""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from keys import display
from keys.admin import dashboard
from keys.models import Credential

register = template.Library()


@register.simple_tag
def status_badge(credential: Credential):
    label = credential.get_status_display()
    return format_html('<span class="kd-badge kd-status-{}">{}</span>', credential.status, label)


@register.simple_tag
def check_badge(credential: Credential):
    """The last check's outcome (works, rejected, inconclusive) and when; "failing" beside it for a
    key that worked and is now refused. A key that is over shows a dash: its status says it all."""
    state = credential.check_state
    if not state:
        return mark_safe('<span class="kd-muted">—</span>')
    if state == "unchecked":
        return format_html(
            '<span class="kd-check kd-check-unchecked">not checked yet</span>{}', awaiting_badge(credential)
        )
    outcome = credential.last_check_outcome
    when = display.moment_html(credential.last_check_at, credential.institution)
    failing = mark_safe(' <span class="kd-badge kd-failing">failing</span>') if state == "failing" else ""
    html = '<span class="kd-check kd-check-{}">{}</span>{}<br><span class="kd-muted">{}</span>{}'
    return format_html(html, outcome, outcome, failing, when, awaiting_badge(credential))


def awaiting_badge(credential: Credential):
    if not credential.awaits_authorization:
        return ""
    return mark_safe(' <span class="kd-badge kd-awaiting">awaiting authorization</span>')


@register.simple_tag
def grant_summary(credential: Credential):
    """Who granted a developer key access in Canvas and when, or that nobody has (yet, or any more)."""
    grant = credential.current_grant()
    if credential.awaits_authorization:
        lost = f" (Canvas ended the grant by {grant.authorized_by}: {grant.lost_reason})" if grant else ""
        return format_html('<span class="kd-badge kd-awaiting">awaiting authorization</span>{}', lost)
    if grant is None:
        return "—"
    when = display.moment_html(grant.authorized_at, credential.institution)
    purged = " Its tokens are destroyed." if grant.purged_at else ""
    return format_html(
        "Authorized by {} on {}, {} scope(s).{}", grant.authorized_by, when, len(grant.scope_list), purged
    )


def days_left_label(credential: Credential, now) -> str:
    days = credential.countdown(now)
    if days is None:
        return "no expiry"
    if days > 1:
        return f"{days} days left"
    if days == 1:
        return "1 day left"
    if days == 0:
        return "lapsed today"  # a key is gone from the first moment of its expiry date
    return f"lapsed {-days} day{'s' if days != -1 else ''} ago"


@register.simple_tag
def days_left(credential: Credential, now):
    """Coloured by urgency while the key is live; a key with no countdown (rejected, needing a fix,
    revoked, locked) shows a dash, as the CSV leaves its cell empty."""
    if not credential.counts_down:
        return mark_safe('<span class="kd-days kd-urgency-muted">—</span>')
    urgency = credential.expiry_urgency(now) if credential.status in Credential.LIVE_STATUSES else "muted"
    return format_html('<span class="kd-days kd-urgency-{}">{}</span>', urgency, days_left_label(credential, now))


@register.inclusion_tag("admin/keys/dashboard.html", takes_context=True)
def credential_dashboard(context):
    request = context.get("request")
    if request is None or not request.user.has_perm("keys.view_credential"):
        return {"show": False}
    now = timezone.now()
    return {"show": True, "tiles": dashboard.tiles(now), "timeline": dashboard.timeline(now)}


@register.simple_tag
def kd_when(value, institution=None):
    """A moment as every staff page writes it (keys/display.py): the institution's zone, UTC on hover."""
    return display.moment_html(value, institution)
