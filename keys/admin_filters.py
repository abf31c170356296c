"""List filters for the credentials list. None of them runs a query to build its choices."""

import datetime
import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q
from django.utils import timezone

from keys import dashboard
from keys.models import Credential


class StatusFilter(admin.SimpleListFilter):
    """Every status staff can see: pending submissions are not listed at all."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in Credential.Status.choices if value != Credential.Status.PENDING]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in dict(self.lookup_choices):
            raise IncorrectLookupParameters(f"Unknown status {value!r}")
        return queryset.filter(status=value)


class ExpiresWithinFilter(admin.SimpleListFilter):
    title = "expires within"
    parameter_name = "expires_within"
    DAYS = (7, 30, 90)

    def lookups(self, request, model_admin):
        return [(str(days), f"{days} days") for days in self.DAYS]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in {str(days) for days in self.DAYS}:
            raise IncorrectLookupParameters(f"Unknown period {value!r}")
        now = timezone.now()
        return queryset.filter(expires_at__gt=now, expires_at__lte=now + datetime.timedelta(days=int(value)))


class ExpiryMonthFilter(admin.SimpleListFilter):
    """One month of expiries: the dashboard's timeline bars link here."""

    title = "expiry month"
    parameter_name = "expires_month"

    def lookups(self, request, model_admin):
        return [(f"{month:%Y-%m}", f"{month:%B %Y}") for month in dashboard.upcoming_months(timezone.now())]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        bounds = dashboard.parse_month(value, timezone.get_current_timezone())
        if bounds is None:
            raise IncorrectLookupParameters(f"Not a month: {value!r}")
        start, end = bounds
        return queryset.filter(expires_at__gte=start, expires_at__lt=end)


class RenewalFilter(admin.SimpleListFilter):
    title = "renewal"
    parameter_name = "renewal"

    def lookups(self, request, model_admin):
        return [("lapsed", "Lapsed with no renewal")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value != "lapsed":
            raise IncorrectLookupParameters(f"Unknown renewal state {value!r}")
        return queryset.lapsed_without_renewal(timezone.now())


_REGION = re.compile(r"[a-z]{2}-[a-z]+-[0-9]{1,2}", re.ASCII)
_VISIBLE_TAIL = 4  # what kinds.Kind.mask shows of a Client ID's end


def client_id_search_q(term: str, field: str) -> Q:
    """Credentials a search term may find by Client ID: the whole ID, or only what its mask shows.

    "us-east-1#1a2b3c4d-…" (the whole ID) matches exactly; "…4c5d", "4c5d" or "us-east-1#…4c5d" (the
    masked form or its last four) and "us-east-1" (the region) match what the list shows anyway. No
    other part of an ID matches, so searching cannot read a masked ID one character at a time.
    """
    term = term.strip().replace("...", "…")
    if not term:
        return Q(pk__in=[])
    query = Q(**{field: term})
    prefix, ellipsis, tail = term.rpartition("…")
    if not ellipsis:
        prefix, tail = "", term
    region = prefix[:-1] if prefix.endswith("#") else prefix
    if (not region or _REGION.fullmatch(region)) and 0 < len(tail) <= _VISIBLE_TAIL and tail.isascii():
        visible = Q(**{f"{field}__endswith": tail})
        if region:
            visible &= Q(**{f"{field}__startswith": f"{region}#"})
        query |= visible
    if not ellipsis and _REGION.fullmatch(term):
        query |= Q(**{f"{field}__startswith": f"{term}#"})
    return query
