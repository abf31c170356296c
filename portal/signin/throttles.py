"""Counters of wrong tries per scope, and a claim that lets exactly one try through when a wait ends.

One Throttle row per scope (unique), changed only by single UPDATEs, so several web nodes share it:

- `fail` adds a failure (`failures = failures + 1`, or 1 when the streak is older than its window);
- `refuse` counts a try turned away while waiting, so a flood is one audit event with a count
  (`take_refused`) instead of a row per try;
- `claim` is the conditional UPDATE the hourly limits use (keys/limits.py)::

      UPDATE throttle SET open_at = <until> WHERE scope = <scope> AND (open_at IS NULL OR open_at <= now)

  or, for a scope never claimed, an INSERT that its unique constraint lets one racer make. On
  PostgreSQL a second racer waits for the first's row lock and then finds the condition false; on
  SQLite writers take turns. So of N racers exactly one is let through.
"""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from portal.signin.models import Throttle


def get(scope: str) -> Throttle | None:
    return Throttle.objects.filter(scope=scope).first()


def _create(scope: str, **fields) -> bool:
    try:
        with transaction.atomic():
            Throttle.objects.create(scope=scope, **fields)
    except IntegrityError:  # a racer created it first
        return False
    return True


def fail(scope: str, now: datetime.datetime, window: datetime.timedelta | None = None) -> int:
    """One more failure of `scope`; a streak older than `window` starts again. Returns the count."""
    rows = Throttle.objects.filter(scope=scope)
    for _ in range(3):  # a racer may create the row between our UPDATE and our INSERT: then UPDATE again
        if window is not None and rows.filter(Q(failed_at__lte=now - window) | Q(failed_at=None)).update(
            failures=1, failed_at=now
        ):
            return 1
        if rows.update(failures=F("failures") + 1, failed_at=now):
            return rows.values_list("failures", flat=True).first() or 1
        if _create(scope, failures=1, failed_at=now):
            return 1
    return rows.values_list("failures", flat=True).first() or 1


def succeed(scope: str) -> None:
    Throttle.objects.filter(scope=scope).update(failures=0, failed_at=None)


def refuse(scope: str) -> None:
    if Throttle.objects.filter(scope=scope).update(refused=F("refused") + 1) or _create(scope, refused=1):
        return
    Throttle.objects.filter(scope=scope).update(refused=F("refused") + 1)


def take_refused(scope: str) -> int:
    """The tries refused since the last event, set back to none; each refusal is reported once."""
    refused = Throttle.objects.filter(scope=scope).values_list("refused", flat=True).first() or 0
    if refused and Throttle.objects.filter(scope=scope, refused=refused).update(refused=0):
        return refused
    return 0


def _race_point(scope: str) -> None:
    """Between deciding a try may go ahead and claiming it. Tests make racers wait here for each other."""


def claim(scope: str, until: datetime.datetime, now: datetime.datetime) -> bool:
    """Take the one try that `scope` allows now; nobody else gets one before `until`."""
    _race_point(scope)
    free = Q(open_at__isnull=True) | Q(open_at__lte=now)
    if Throttle.objects.filter(scope=scope).filter(free).update(open_at=until):
        return True
    return _create(scope, open_at=until)  # fails if the row exists and is claimed, or a racer made it


def forget(now: datetime.datetime, older_than: datetime.timedelta) -> int:
    """Rows with nothing recent: no wait, no streak and nothing left to report."""
    stale = now - older_than
    return (
        Throttle.objects.filter(Q(failed_at__isnull=True) | Q(failed_at__lte=stale))
        .filter(Q(open_at__isnull=True) | Q(open_at__lte=stale))
        .filter(refused=0)
        .delete()[0]
    )
