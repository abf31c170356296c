"""Password guessing is slow, and nobody can lock anyone else out.

Two counters, each with its own job:

- **(username, address)**, kept by django-axes: PORTAL_LOGIN_FAILURE_LIMIT (5) wrong passwords from
  one address against one account lock that pair for PORTAL_LOGIN_LOCKOUT_MINUTES (30). A success
  clears that pair only, so signing in to your own account does not wipe the failures you made
  against someone else's. Failures from one address cannot lock the account elsewhere.
- **username**, here: guesses spread over many addresses. Past PORTAL_LOGIN_USERNAME_FAILURE_LIMIT
  (20) failures in a day, each further attempt must wait a back-off that doubles with every failure
  (1, 2, 4, 8, then 15 minutes). It is a delay, not a lock: at most about 100 guesses a day reach
  the password check. A browser that has signed in to that account before (a signed cookie) does
  not wait, so an attacker can slow down strangers, not the account's owner; that cookie itself
  is exempt only until it has PORTAL_LOGIN_FAILURE_LIMIT failures of its own in a day. Once the
  back-off has begun, each step lets exactly one attempt through, claimed atomically
  (portal/signin/throttles.py): a burst as a wait ends gets one password check, not one each.
- **address**, here: PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT (30) failed sign-ins in an hour from one
  address, to any usernames (a new username each time included), and its further attempts wait
  until the oldest of them is an hour old. One audit event records the limit being reached; the
  attempts it refuses are counted into the next such event, not recorded one by one. Known
  browsers of the username typed do not wait.

A refused attempt (locked pair or back-off) never reaches the password check and is not counted.
"""

import datetime
import secrets

from django.conf import settings
from django.core import signing
from django.db.models import Count, Max
from django.utils import timezone

from portal.signin import signals, throttles
from portal.signin.models import SignInFailure

USERNAME_LENGTH = SignInFailure._meta.get_field("username").max_length
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
KNOWN_BROWSER_COOKIE = "keydrop_known_browser"
_SALT = "keydrop.signin.known-browser"


def refused_by_axes(request) -> bool:
    """django-axes turned the attempt away (a locked pair) before any password was checked.

    Not the failure that set the lock: that one has its count, whichever receiver runs first.
    """
    return (
        bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", None) is None
    )


def record_failure(username: str, ip: str | None, request, now: datetime.datetime) -> datetime.datetime | None:
    """Count one wrong password. Returns the back-off's end if this failure started one."""
    browser = known_browser(request)
    SignInFailure.objects.create(username=username, ip=ip or None, browser=browser["id"] if browser else "", at=now)
    if (
        ip
        and SignInFailure.objects.filter(ip=ip, at__gt=now - HOUR).count()
        == settings.PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT
    ):
        refused = throttles.take_refused(_address_scope(ip))
        signals.address_limit_reached.send(
            sender=record_failure,
            request=request,
            until=now + HOUR,
            failures=settings.PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT,
            refused=refused,
        )
    count = SignInFailure.objects.filter(username=username, at__gt=now - DAY).count()
    if count == settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT:
        return now + _delay(0)
    return None


def backoff_until(username: str, request, now: datetime.datetime) -> datetime.datetime | None:
    """When the next attempt on this username may be made, if that is later than now.

    None also claims the attempt: once the back-off has begun, exactly one attempt checks a password
    per step, however many arrive together when a wait ends (throttles.claim).
    """
    if _known_browser_exempt(username, request, now):
        return None
    recent = SignInFailure.objects.filter(username=username, at__gt=now - DAY).aggregate(n=Count("pk"), last=Max("at"))
    over = recent["n"] - settings.PORTAL_LOGIN_USERNAME_FAILURE_LIMIT
    if over < 0:
        return None
    until = recent["last"] + _delay(over)
    if until > now:
        return until
    # Held until this attempt's failure, if it fails, sets the next step (the same moment).
    if throttles.claim(f"backoff:{username}", now + _delay(over + 1), now):
        return None
    claimed = throttles.get(f"backoff:{username}")
    return claimed.open_at if claimed is not None and claimed.open_at > now else now + _delay(0)


def _address_scope(ip: str) -> str:
    return f"password-address:{ip}"


def address_refused_until(username: str, ip: str | None, request, now: datetime.datetime) -> datetime.datetime | None:
    """Past PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT failed sign-ins in an hour from one address, to any
    usernames, its attempts wait until the oldest of those is an hour old. Refusals are counted
    for the next event, not recorded one by one."""
    if not ip or _known_browser_exempt(username, request, now):
        return None
    limit = settings.PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT
    nth = SignInFailure.objects.filter(ip=ip, at__gt=now - HOUR).order_by("-at").values_list("at", flat=True)
    nth = list(nth[limit - 1 : limit])
    if not nth:
        return None
    throttles.refuse(_address_scope(ip))
    return nth[0] + HOUR


def _delay(over: int) -> datetime.timedelta:
    first, most = settings.PORTAL_LOGIN_BACKOFF_FIRST, settings.PORTAL_LOGIN_BACKOFF_MAX
    return min(first * 2 ** min(over, 20), most)


def forget_old_failures(now: datetime.datetime) -> int:
    throttles.forget(now, DAY)
    return SignInFailure.objects.filter(at__lte=now - DAY).delete()[0]


# The "signed in here before" cookie -------------------------------------------------------


def known_browser(request) -> dict | None:
    """The verified cookie ({"id": …, "users": [...]}) or None."""
    raw = request.COOKIES.get(KNOWN_BROWSER_COOKIE)
    if not raw:
        return None
    max_age = datetime.timedelta(days=settings.PORTAL_LOGIN_KNOWN_BROWSER_DAYS)
    try:
        value = signing.loads(raw, salt=_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not isinstance(value.get("users"), list):
        return None
    return value


def _known_browser_exempt(username: str, request, now: datetime.datetime) -> bool:
    browser = known_browser(request)
    if browser is None or username not in browser["users"]:
        return False
    failures = SignInFailure.objects.filter(browser=browser["id"], at__gt=now - DAY).count()
    return failures < settings.AXES_FAILURE_LIMIT


def remember_browser(request, response, username: str) -> None:
    """After a successful password sign-in: this browser now knows this account."""
    browser = known_browser(request) or {"id": secrets.token_hex(16), "users": []}
    users = [name for name in browser["users"] if name != username][-4:] + [username]
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        signing.dumps({"id": browser["id"], "users": users}, salt=_SALT),
        max_age=settings.PORTAL_LOGIN_KNOWN_BROWSER_DAYS * 24 * 3600,
        path="/admin/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def minutes_until(until: datetime.datetime, now: datetime.datetime | None = None) -> int:
    """Whole minutes to wait, rounded up and at least one, for messages."""
    seconds = (until - (now or timezone.now())).total_seconds()
    return max(1, int(-(-seconds // 60)))
