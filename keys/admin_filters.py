"""List filters for the credentials list. None of them runs a query to build its choices."""

import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
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
        months = [(f"{month:%Y-%m}", f"{month:%B %Y}") for month in dashboard.upcoming_months(timezone.now())]
        return [*months, (dashboard.LATER, "Later")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == dashboard.LATER:
            return queryset.filter(expires_at__gte=dashboard.horizon(timezone.now()))
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
