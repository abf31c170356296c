"""django-q2 tasks of staff sign-in: idempotent, no arguments."""

from django.utils import timezone

from portal.signin import enrolment, lockout

SCHEDULES = [
    {"name": "signin.forget_old_failures", "func": "portal.signin.tasks.forget_old_failures", "minutes": 60},
]


def forget_old_failures() -> int:
    """Failed sign-ins older than a day no longer count toward any back-off; spent enrolment links go."""
    now = timezone.now()
    enrolment.forget_old_links(now)
    return lockout.forget_old_failures(now)
