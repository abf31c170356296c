"""The staff dashboard: credential health in a few aggregate queries, and the expiry timeline.

Months are counted in the portal's time zone (TIME_ZONE): a key expiring at midnight in an
institution's zone may fall into the neighbouring month here, which a timeline can afford.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from keys import kinds, shared_keys
from keys.models import Credential
from keys.onboarding import campaigns

# At least thirteen months: a one-year key made today expires in the twelfth month after this one.
MIN_TIMELINE_MONTHS = 13
LATER = "later"  # the last bar: every active key expiring after the months shown
Status = Credential.Status


def timeline_months() -> int:
    """Enough months for the longest lifetime any kind offers, counting this month."""
    lifetimes = [lifetime for kind in kinds.KINDS.values() for lifetime in kind.lifetimes]
    longest = max((lifetime.months + lifetime.days // 28 for lifetime in lifetimes), default=12)
    return max(MIN_TIMELINE_MONTHS, longest + 1)


def month_start(day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, 1, tzinfo=tz)


def add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    index = start.month - 1 + months
    return start.replace(year=start.year + index // 12, month=index % 12 + 1, day=1)


def parse_month(value: str, tz: datetime.tzinfo) -> tuple[datetime.datetime, datetime.datetime] | None:
    """'2027-03' → the first moment of March 2027 and of April 2027; None if it is not a month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        start = datetime.datetime(year, month, 1, tzinfo=tz)
    except (TypeError, ValueError, OverflowError):
        return None
    if not value.isascii() or len(value) != 7 or year > 9998:  # no "٢٠٢٧-٠٣", no overflow at year 9999
        return None
    return start, add_months(start, 1)


def upcoming_months(now: datetime.datetime, count: int | None = None) -> list[datetime.datetime]:
    first = month_start(timezone.localtime(now).date(), timezone.get_current_timezone())
    return [add_months(first, offset) for offset in range(count or timeline_months())]


def horizon(now: datetime.datetime) -> datetime.datetime:
    """The first moment after the months the timeline shows: "later" starts here."""
    return add_months(upcoming_months(now)[-1], 1)


def changelist_url(**filters) -> str:
    return reverse("admin:keys_credential_changelist") + ("?" + urlencode(filters) if filters else "")


@dataclass(frozen=True)
class Tile:
    label: str
    count: int
    url: str | None
    tone: str  # a CSS modifier: ok, warn, bad, muted
    help: str


def tiles(now: datetime.datetime) -> list[Tile]:
    """The counts staff look at first, in four queries (and one more once authorization exists)."""
    start_of_today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    within_30 = now + datetime.timedelta(days=30)
    counts = Credential.objects.aggregate(
        active=Count("pk", filter=Q(status=Status.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))),
        expiring=Count("pk", filter=Q(status=Status.ACTIVE, expires_at__gt=now, expires_at__lte=within_30)),
        # Only a number: nothing else about a pending submission reaches staff before verification.
        pending=Count("pk", filter=Q(status=Status.PENDING)),
        locked_today=Count("pk", filter=Q(status=Status.LOCKED, locked_at__gte=start_of_today)),
        awaiting_secret=Count("pk", filter=Q(status=Status.AWAITING_SECRET)),
        failing=Count(
            "pk",
            filter=Q(status__in=Credential.USABLE_STATUSES, secret__isnull=False, failing_since__isnull=False)
            & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)),
        ),
    )
    # On its own: as a WHERE clause PostgreSQL runs "no newer renewal" as one anti-join; inside
    # the aggregate above it would be a subquery per row.
    counts["lapsed"] = Credential.objects.lapsed_without_renewal(now).count()
    counts["never"] = campaigns.never_handed_over().count()
    counts["shared"] = shared_keys.flagged().count()
    return [
        Tile(
            "Active",
            counts["active"],
            changelist_url(status=Status.ACTIVE),
            "ok",
            "Verified keys in use, not past their expiry.",
        ),
        Tile(
            "Expiring within 30 days",
            counts["expiring"],
            changelist_url(status=Status.ACTIVE, expires_within=30),
            "warn" if counts["expiring"] else "muted",
            "Active keys the customer must replace soon.",
        ),
        Tile(
            "Lapsed, no renewal",
            counts["lapsed"],
            changelist_url(renewal="lapsed"),
            "bad" if counts["lapsed"] else "muted",
            "Past expiry with nothing newer from the customer: data has stopped.",
        ),
        Tile(
            "Failing",
            counts["failing"],
            changelist_url(check="failing"),
            "bad" if counts["failing"] else "muted",
            "Keys that worked and that Canvas now refuses: their contacts were told once.",
        ),
        Tile(
            "Pending verification",
            counts["pending"],
            None,
            "muted",
            "Submissions waiting for the customer's emailed code. Not shown until verified.",
        ),
        Tile(
            "Locked today",
            counts["locked_today"],
            changelist_url(status=Status.LOCKED),
            "bad" if counts["locked_today"] else "muted",
            "Submissions locked today after wrong codes or the 15-minute window.",
        ),
        Tile(
            "Awaiting partner secret",
            counts["awaiting_secret"],
            changelist_url(status=Status.AWAITING_SECRET),
            "warn" if counts["awaiting_secret"] else "muted",
            "Instructure Partner keys: enter the one-time password Instructure emailed you to make them work.",
        ),
        Tile(
            "Shared keys",
            counts["shared"],
            changelist_url(shared_key="flagged"),
            "bad" if counts["shared"] else "muted",
            "Keys also on file for another institution: one institution's data could load as another's.",
        ),
        *capability_tiles(),
        Tile(
            "Never handed over",
            counts["never"],
            reverse("admin:keys_institution_changelist") + "?" + urlencode({"working_key": "never"}),
            "warn" if counts["never"] else "muted",
            "Institutions that have never verified a key of any kind: invite them.",
        ),
    ]


def capability_tiles() -> list[Tile]:
    """Tiles for states a capability that arrives separately adds (the OAuth grant's "awaiting
    authorization"), shown once it exists: a 0 for a state that cannot happen would mislead."""
    shown = []
    awaiting = Credential.objects.awaiting_authorization()
    if awaiting is not None:
        count = awaiting.count()
        shown.append(
            Tile(
                "Awaiting authorization",
                count,
                changelist_url(authorization="awaiting"),
                "warn" if count else "muted",
                "Developer keys whose admin has not yet authorized access in Canvas.",
            )
        )
    return shown


@dataclass(frozen=True)
class Bar:
    month: datetime.datetime | None  # None for the "later" bar
    count: int
    url: str
    tone: str  # urgent (this month), soon (the next two), later
    x: float
    y: float
    height: float
    center: float
    label_y: float
    shows_year: bool  # on the first bar and on each January

    @property
    def month_label(self) -> str:
        return f"{self.month:%b}" if self.month else "Later"

    @property
    def period(self) -> str:
        return f"{self.month:%B %Y}" if self.month else "later"

    @property
    def title(self) -> str:
        noun = "key expires" if self.count == 1 else "keys expire"
        return f"{self.count} active {noun} {'in ' + self.period if self.month else 'later'}"


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    width: int
    height: int
    baseline: float
    bar_width: float
    total: int
    peak: int


# The chart's geometry, in SVG user units; CSS sizes it to the page.
CHART_WIDTH, CHART_HEIGHT = 720, 220
PLOT_TOP, PLOT_BOTTOM, SIDE = 24, 180, 8


def timeline(now: datetime.datetime) -> Timeline:
    """Active credentials by month of expiry, as far ahead as the longest lifetime in use, then
    every later one in a last bar: one grouped query."""
    months = upcoming_months(now)
    end = add_months(months[-1], 1)
    rows = (
        Credential.objects.filter(status=Status.ACTIVE, expires_at__gte=months[0])
        .annotate(month=TruncMonth("expires_at", tzinfo=timezone.get_current_timezone()))
        .values("month")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_month, later = {}, 0
    for row in rows:
        start = timezone.localtime(row["month"])
        if start >= end:
            later += row["n"]
        else:
            by_month[start.date().replace(day=1)] = row["n"]
    counts = [by_month.get(month.date(), 0) for month in months] + [later]
    peak = max(counts) or 1
    slot = (CHART_WIDTH - 2 * SIDE) / len(counts)
    bar_width = slot * 0.7
    plot = PLOT_BOTTOM - PLOT_TOP
    bars = []
    for index, (month, count) in enumerate(zip([*months, None], counts, strict=True)):
        height = plot * count / peak if count else 0
        tone = "urgent" if index == 0 else "soon" if index <= 2 else "later"
        bars.append(
            Bar(
                month=month,
                count=count,
                url=changelist_url(status=Status.ACTIVE, expires_month=f"{month:%Y-%m}" if month else LATER),
                tone=tone,
                x=round(SIDE + index * slot + (slot - bar_width) / 2, 1),
                y=round(PLOT_BOTTOM - height, 1),
                height=round(height, 1),
                center=round(SIDE + index * slot + slot / 2, 1),
                label_y=round(PLOT_BOTTOM - height - 6, 1),
                shows_year=month is not None and (index == 0 or month.month == 1),
            )
        )
    return Timeline(bars, CHART_WIDTH, CHART_HEIGHT, PLOT_BOTTOM, round(bar_width, 1), sum(counts), max(counts))
