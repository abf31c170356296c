"""Verified key release: Instructure's rules, each written once.

    rule      Instructure's value                          setting (may be tightened)   in code below
    code      6 ASCII digits                               -                            CODE_DIGITS
    lifetime  5 minutes from sending, never past window    PORTAL_CODE_LIFETIME         code_expires_at()
    re-sends  3 new codes after the first, each voids it   PORTAL_CODE_MAX_RESENDS      CODES, resends_left()
    attempts  5 wrong entries in total, across all codes   PORTAL_CODE_MAX_ATTEMPTS     WRONG_ENTRIES
    window    15 minutes from submission to verification   PORTAL_VERIFICATION_WINDOW   deadline(), in_window()
    then      locked for good, the secret destroyed        -                            Verification.lock()
    errors    one message for wrong, expired and locked    -                            GENERIC_CODE_ERROR

Source: Instructure's verified key release announcement and FAQ. The settings default to these
values; check keydrop.W002 warns when one is looser. Pages and emails state the numbers through
terms(), so they say what the portal enforces. Settings import this module: Django only, no models.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

CODE_DIGITS = 6
CODE_LIFETIME = datetime.timedelta(minutes=5)
MAX_RESENDS = 3
MAX_ATTEMPTS = 5
WINDOW = datetime.timedelta(minutes=15)
INSTRUCTURE = {
    "PORTAL_CODE_LIFETIME": CODE_LIFETIME,
    "PORTAL_CODE_MAX_RESENDS": MAX_RESENDS,
    "PORTAL_CODE_MAX_ATTEMPTS": MAX_ATTEMPTS,
    "PORTAL_VERIFICATION_WINDOW": WINDOW,
}
# Wrong, expired and locked get this same answer, so a guess learns nothing.
GENERIC_CODE_ERROR = "That code didn't work. Check the most recent email and try again, or send yourself a new code."


def deadline(started_at: datetime.datetime) -> datetime.datetime:
    return started_at + settings.PORTAL_VERIFICATION_WINDOW


def in_window(now: datetime.datetime) -> Q:
    """`now < deadline(started_at)`, as a filter on the started_at column."""
    return Q(started_at__gt=now - settings.PORTAL_VERIFICATION_WINDOW)


def code_expires_at(code_sent_at: datetime.datetime, started_at: datetime.datetime) -> datetime.datetime:
    return min(code_sent_at + settings.PORTAL_CODE_LIFETIME, deadline(started_at))


@dataclass(frozen=True)
class Limit:
    """A counter a rule caps: `left()` answers for a loaded row, `allows()` for a conditional UPDATE."""

    field: str
    cap: Callable[[], int]  # read when asked, so a changed setting applies at once

    def left(self, count: int) -> int:
        return max(0, self.cap() - count)

    def allows(self) -> Q:
        return Q(**{f"{self.field}__lt": self.cap()})


CODES = Limit("codes_sent", lambda: 1 + settings.PORTAL_CODE_MAX_RESENDS)  # the first code, then the re-sends
WRONG_ENTRIES = Limit("wrong_attempts", lambda: settings.PORTAL_CODE_MAX_ATTEMPTS)


def resends_left(codes_sent: int) -> int:
    # Before the first code has gone out (its email failed), every re-send is still to come.
    return min(CODES.left(codes_sent), settings.PORTAL_CODE_MAX_RESENDS)


def code_digits() -> str:
    """CODE_DIGITS as prose writes it: "six"."""
    from django.contrib.humanize.templatetags.humanize import apnumber  # needs apps; settings import this module

    return apnumber(CODE_DIGITS)


def terms() -> dict:
    """The numbers pages and emails state, as the settings in force say them."""
    return {
        "code_digits": code_digits(),
        "code_minutes": _minutes(settings.PORTAL_CODE_LIFETIME),
        "window_minutes": _minutes(settings.PORTAL_VERIFICATION_WINDOW),
        "instructure_window_minutes": _minutes(WINDOW),  # Instructure's own screen, whatever the setting
    }


def _minutes(duration: datetime.timedelta) -> int:
    return int(duration.total_seconds() // 60)  # rounded down: never promise more time than there is
