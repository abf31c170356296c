"""How staff pages write a day or a moment: one format everywhere, in the institution's time zone.

A day is 2026-12-06; a moment is 2026-12-06 22:19 CST, in the institution's zone (the portal's when it
has none), with the same moment in UTC in its ``title`` and ``datetime``: the zone a pipeline, a log
and Canvas speak. An expiry, where the hour matters, says its UTC moment in the text itself.
"""

import datetime

from django.utils import timezone
from django.utils.html import format_html

EMPTY = "—"


def zone_of(institution) -> datetime.tzinfo:
    return institution.tz if institution is not None else timezone.get_current_timezone()


def day(value: datetime.date | None) -> str:
    return value.isoformat() if value else EMPTY


def moment(value: datetime.datetime | None, institution=None) -> str:
    if value is None:
        return EMPTY
    local = timezone.localtime(value, zone_of(institution))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def utc(value: datetime.datetime) -> str:
    return f"{value.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"


def moment_html(value: datetime.datetime | None, institution=None):
    """The moment in the institution's zone, UTC on hover and for machines."""
    if value is None:
        return EMPTY
    iso = value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, utc(value), moment(value, institution))


def expiry(credential) -> str:
    """2026-12-06 (from 00:00 CST, 2026-12-06 06:00 UTC): the day, and the moment the key stops."""
    if not credential.expires_at:
        return f"No {credential.kind_spec.expiry_label.lower()}"
    start = moment(credential.expires_at, credential.institution)
    return f"{day(credential.expires_on())} (from {start.split(' ', 1)[1]}, {utc(credential.expires_at)})"
