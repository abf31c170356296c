"""The expiry calendar: an iCalendar feed staff subscribe to with a private per-user address.

The address works outside the admin login (calendar apps cannot log in), so the token in it is
the only key: a wrong or retired token is a plain 404, and the feed follows its owner's access.
It lists only credentials visible to staff, and nothing secret: a masked Client ID at most.
"""

import datetime
from urllib.parse import urlsplit

import icalendar
from django.conf import settings
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from keys.models import CalendarFeed, Credential

# Lapsed keys stay in the feed this long, so past events do not vanish.
HISTORY = datetime.timedelta(days=365)


def build_feed(now: datetime.datetime) -> bytes:
    credentials = (
        Credential.objects.visible_to_staff()
        .tracked()
        .filter(expires_at__gte=now - HISTORY)
        .select_related("institution")
        .defer("secret")
        .order_by("expires_at", "pk")
    )
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "keydrop"
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Keydrop//Credential expiry calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{settings.PORTAL_PARTNER_NAME}: Canvas key expiries")
    calendar.add("x-published-ttl", "PT1H")  # how often calendar apps should fetch it again
    for credential in credentials.iterator(chunk_size=2000):
        calendar.add_component(_event(credential, host, now))
    return calendar.to_ical()


def _event(credential: Credential, host: str, now: datetime.datetime) -> icalendar.Event:
    day = credential.expires_on()
    kind = credential.kind_spec
    renewed = " (renewed)" if credential.status == Credential.Status.SUPERSEDED else ""
    admin_url = settings.PORTAL_BASE_URL + reverse("admin:keys_credential_change", args=[credential.pk])
    event = icalendar.Event()
    event.add("uid", f"credential-{credential.pk}@{host}")  # stable, so an app updates the event, not duplicates it
    event.add("dtstamp", now)
    event.add("dtstart", day)
    event.add("dtend", day + datetime.timedelta(days=1))
    event.add("summary", f"{credential.institution.name}: {kind.label} {kind.expiry_label.lower()}{renewed}")
    event.add(
        "description",
        f"{kind.client_id_label} {credential.masked_client_id}\n"
        f"Status: {credential.get_status_display()}\n"
        f"In Keydrop: {admin_url}",
    )
    event.add("url", admin_url)
    event.add("transp", "TRANSPARENT")  # an expiry does not make anyone busy
    return event


@require_safe
def feed(request, token: str):
    subscription = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if subscription is None or not subscription.may_be_read():
        raise Http404("No such calendar")
    response = HttpResponse(build_feed(timezone.now()), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="keydrop-expiries.ics"'
    response["Cache-Control"] = "private, no-cache"
    response["X-Robots-Tag"] = "noindex"
    return response
