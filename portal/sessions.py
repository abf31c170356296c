"""Staff sessions end PORTAL_STAFF_SESSION_MAX_AGE after sign-in, and after PORTAL_STAFF_SESSION_IDLE without a request.

Django's SESSION_COOKIE_AGE slides forward whenever the session is saved, so on its own it
limits neither: the sign-in time and the last request are kept in the session (as epoch
seconds, nothing sensitive) and checked on every request.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.utils import timezone

SIGNED_IN_AT = "keydrop_signed_in_at"
SEEN_AT = "keydrop_seen_at"
# The last-seen time is written at most once a minute, so browsing does not save the session on every click.
SEEN_RESOLUTION_SECONDS = 60


class StaffSessionExpiryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request, timezone.now().timestamp())
        response = self.get_response(request)
        # A sign-in during this request starts the clock.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and SIGNED_IN_AT not in request.session:
            now = timezone.now().timestamp()
            request.session[SIGNED_IN_AT] = request.session[SEEN_AT] = now
        return response

    def _check(self, request, now: float) -> None:
        session = request.session
        signed_in_at = session.get(SIGNED_IN_AT)
        if signed_in_at is None:  # a session from before this rule: its clock starts now
            session[SIGNED_IN_AT] = session[SEEN_AT] = now
            return
        seen_at = session.get(SEEN_AT, signed_in_at)
        too_old = now - signed_in_at >= settings.PORTAL_STAFF_SESSION_MAX_AGE.total_seconds()
        idle = now - seen_at >= settings.PORTAL_STAFF_SESSION_IDLE.total_seconds()
        if too_old or idle:
            logout(request)  # flushes the session and its cookie's data
            messages.info(
                request,
                "You were signed out after "
                + ("the longest a session may last" if too_old else "a while without activity")
                + ". Please sign in again.",
            )
        elif now - seen_at >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_AT] = now
