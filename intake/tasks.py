"""django-q2 tasks of the intake. Idempotent, and take no arguments (task arguments are stored)."""

import logging

from django.utils import timezone

from intake import held_secrets
from intake.models import Verification

log = logging.getLogger(__name__)

SCHEDULES = [
    # Submissions also lock when they are next opened; this makes sure secrets of abandoned
    # ones are destroyed soon after the window even if nobody comes back.
    {"name": "intake.lock_stale_submissions", "func": "intake.tasks.lock_stale_submissions", "minutes": 1},
]


def lock_stale_submissions(batch: int = 500) -> int:
    now = timezone.now()
    locked = 0
    for verification in Verification.objects.stale(now).select_related("credential")[:batch]:
        locked += verification.lock(now, Verification.LockReason.WINDOW)
    if locked:
        log.info("locked %d submission(s) not verified within the window", locked)
    # Secrets held for a form that came back with an error are destroyed once their minutes are up.
    held_secrets.purge_expired(now)
    return locked
