"""List filters for the credentials list. None of them runs a query to build its choices. (Every list's
guard against parameters it does not declare is portal/signin/lookups.py.)"""

import datetime
import re

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q
from django.utils import timezone

from keys.admin import dashboard
from keys.models import Credential


class StrictListFilter(admin.SimpleListFilter):
    """A filter that refuses a value it does not know (the admin's "?e=1" page) rather than
    quietly showing the whole list as if it had filtered it."""

    def accepts(self, value: str) -> bool:
        return value in dict(self.lookup_choices)

    def filter(self, queryset, value: str):
        raise NotImplementedError

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not self.accepts(value):
            raise IncorrectLookupParameters(f"Unknown {self.title} {value!r}")
        return self.filter(queryset, value)


class StatusFilter(StrictListFilter):
    """Every status staff can see: pending submissions are not listed at all."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(value, label) for value, label in Credential.Status.choices if value != Credential.Status.PENDING]

    def filter(self, queryset, value):
        return queryset.filter(status=value)


class ExpiresWithinFilter(StrictListFilter):
    title = "expires within"
    parameter_name = "expires_within"
    DAYS = (7, 30, 90)

    def lookups(self, request, model_admin):
        return [(str(days), f"{days} days") for days in self.DAYS]

    def filter(self, queryset, value):
        now = timezone.now()
        return queryset.filter(expires_at__gt=now, expires_at__lte=now + datetime.timedelta(days=int(value)))


class ExpiryMonthFilter(StrictListFilter):
    """One month of expiries: the dashboard's timeline bars link here."""

    title = "expiry month"
    parameter_name = "expires_month"

    def lookups(self, request, model_admin):
        months = [(f"{month:%Y-%m}", f"{month:%B %Y}") for month in dashboard.upcoming_months(timezone.now())]
        return [*months, (dashboard.LATER, "Later")]

    def accepts(self, value):
        # Any month, not only those offered: a bookmarked link outlives its month. Or "later".
        return value == dashboard.LATER or dashboard.parse_month(value, timezone.get_current_timezone()) is not None

    def filter(self, queryset, value):
        if value == dashboard.LATER:
            return queryset.filter(expires_at__gte=dashboard.horizon(timezone.now()))
        start, end = dashboard.parse_month(value, timezone.get_current_timezone())
        return queryset.filter(expires_at__gte=start, expires_at__lt=end)


class RenewalFilter(StrictListFilter):
    title = "renewal"
    parameter_name = "renewal"

    def lookups(self, request, model_admin):
        return [("lapsed", "Lapsed with no renewal")]

    def filter(self, queryset, value):
        return queryset.lapsed_without_renewal(timezone.now())


class CheckFilter(StrictListFilter):
    """What the live checks last found, for keys that can still work."""

    title = "live check"
    parameter_name = "check"

    def lookups(self, request, model_admin):
        return [
            ("failing", "Failing: worked, now refused"),
            ("works", "Works"),
            ("inconclusive", "Last answer inconclusive"),
            ("unchecked", "Not checked yet"),
        ]

    def filter(self, queryset, value):
        now = timezone.now()
        if value == "failing":
            return queryset.failing(now)
        last = "" if value == "unchecked" else value
        return queryset.usable(now).filter(failing_since__isnull=True, last_check_outcome=last)


class AuthorizationFilter(StrictListFilter):
    """Developer keys whose admin has not granted access in Canvas, or whose grant Canvas ended."""

    title = "authorization"
    parameter_name = "authorization"

    def lookups(self, request, model_admin):
        return [("awaiting", "Awaiting authorization")]

    def filter(self, queryset, value):
        awaiting = queryset.awaiting_authorization(timezone.now())
        return awaiting if awaiting is not None else queryset.none()


# The credential list's filters, in the order the sidebar shows them.
CREDENTIAL_FILTERS = [
    StatusFilter,
    CheckFilter,
    AuthorizationFilter,
    "kind",
    ExpiresWithinFilter,
    ExpiryMonthFilter,
    RenewalFilter,
]

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
