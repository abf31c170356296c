"""Is this Keydrop working? The answer behind /health/, the admin's red banner and the ADMINS email.

- database: answers a query (the only part whose failure makes /health/ answer 503, so a load
  balancer takes a node out only when it cannot serve at all);
- broker: Redis answers a ping (the ORM broker is the database);
- schedules: every schedule an app declares exists (migrate creates them);
- scheduler: each schedule last ran within three of its periods. A schedule that has never run
  gets three periods from when it was first due, so a fresh install is not reported as stopped.

Nothing secret is in the report: names, times and yes/no.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Max
from django.urls import reverse

from portal import emails, schedules
from portal.models import Alert

log = logging.getLogger(__name__)
STALE_AFTER_PERIODS = 3
_PERIOD_MINUTES = {"H": 60, "D": 24 * 60, "W": 7 * 24 * 60, "BW": 14 * 24 * 60, "M": 31 * 24 * 60}


@dataclass(frozen=True)
class Beat:
    """One schedule's heartbeat."""

    name: str
    period: datetime.timedelta | None  # None: a cron or one-off schedule, not judged
    last_run: datetime.datetime | None
    next_run: datetime.datetime | None
    ok: bool

    @property
    def every_minutes(self) -> int | None:
        return int(self.period.total_seconds() // 60) if self.period else None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "every_minutes": self.every_minutes,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "ok": self.ok,
        }


def period_of(schedule) -> datetime.timedelta | None:
    if schedule.schedule_type == schedule.MINUTES:
        return datetime.timedelta(minutes=schedule.minutes or 1)
    minutes = _PERIOD_MINUTES.get(schedule.schedule_type)
    return datetime.timedelta(minutes=minutes) if minutes else None


def heartbeat(schedule, last_run: datetime.datetime | None, now: datetime.datetime) -> Beat:
    period = period_of(schedule)
    # Never run: judged from when it was first due (migrate sets next_run to that moment).
    since = last_run or schedule.next_run
    ok = period is None or since is None or now - since <= STALE_AFTER_PERIODS * period
    return Beat(schedule.name, period, last_run, schedule.next_run, ok)


def scheduler_beats(now: datetime.datetime) -> tuple[list[Beat], list[str]]:
    """Each declared schedule's heartbeat, and the names of declared schedules that do not exist."""
    from django_q.models import Schedule, Task

    names = sorted(schedules.DECLARED)
    found = {schedule.name: schedule for schedule in Schedule.objects.filter(name__in=names)}
    # django-q2 groups the tasks a schedule creates under the schedule's name.
    last_runs = dict(
        Task.objects.filter(group__in=list(found))
        .values("group")
        .annotate(last=Max("stopped"))
        .values_list("group", "last")
    )
    beats = [heartbeat(found[name], last_runs.get(name), now) for name in names if name in found]
    return beats, [name for name in names if name not in found]


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


_redis = None


def broker_status(database_is_ok: bool) -> dict:
    url = settings.Q_CLUSTER.get("redis")
    if not url:
        return {"ok": database_is_ok, "kind": "orm"}
    import redis

    global _redis
    if _redis is None:
        # Short timeouts of its own: a health check must answer even when Redis does not.
        _redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return {"ok": bool(_redis.ping()), "kind": "redis"}
    except redis.RedisError:
        return {"ok": False, "kind": "redis"}


def report(now: datetime.datetime) -> dict:
    """The /health/ body. "ok" is true only when every part is."""
    body = {"ok": False, "database": {"ok": database_ok()}}
    body["broker"] = broker_status(body["database"]["ok"])
    if body["database"]["ok"]:
        try:
            beats, missing = scheduler_beats(now)
        except DatabaseError:  # not migrated yet
            beats, missing = [], sorted(schedules.DECLARED)
        body["schedules"] = {"ok": not missing, "missing": missing}
        body["scheduler"] = {"ok": all(beat.ok for beat in beats), "schedules": [beat.as_dict() for beat in beats]}
        if beats:
            tell_operators(beats, now)
    body["ok"] = all(part["ok"] for part in body.values() if isinstance(part, dict))
    return body


def stale_beats(now: datetime.datetime) -> list[Beat]:
    beats, _ = scheduler_beats(now)
    tell_operators(beats, now)
    return [beat for beat in beats if not beat.ok]


def tell_operators(beats: list[Beat], now: datetime.datetime) -> None:
    """Email ADMINS once per stale episode; the episode ends when every schedule runs again."""
    stale = [beat for beat in beats if not beat.ok]
    episodes = Alert.objects.filter(kind=Alert.Kind.SCHEDULER_STALE, cleared_at__isnull=True)
    if not stale:
        if episodes.exists():
            episodes.update(cleared_at=now)
        return
    if episodes.exists():
        return
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=Alert.Kind.SCHEDULER_STALE, raised_at=now, detail=", ".join(beat.name for beat in stale)
            )
    except IntegrityError:
        return  # another request, perhaps on another node, raised it a moment ago
    if not settings.ADMINS:
        return
    context = {
        "stale": stale,
        "now": now,
        "health_url": settings.PORTAL_BASE_URL + reverse("health"),
        "stale_after_periods": STALE_AFTER_PERIODS,
    }
    try:
        emails.send("scheduler-stale", [address for _, address in settings.ADMINS], context)
    except Exception as exc:  # SMTP and socket errors alike: nobody was told, so the next check tries again
        log.warning("the stopped-scheduler email could not be sent: %s", type(exc).__name__)
        alert.delete()
