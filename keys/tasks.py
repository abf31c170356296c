"""django-q2 tasks of the keys app. Each takes no arguments (django-q2 stores task arguments and
results in the database) and is idempotent (tasks are delivered at least once)."""

import logging

from django.utils import timezone

from keys import limits, reminders
from keys.checks import alerts, live_checks
from keys.instructure import dap_tokens
from keys.models import Credential
from keys.onboarding import campaigns
from keys.pipelines import webhooks

log = logging.getLogger(__name__)

SCHEDULES = [
    {"name": "keys.send_reminders", "func": "keys.tasks.send_reminders", "minutes": 1},
    {"name": "keys.purge_dead_secrets", "func": "keys.tasks.purge_dead_secrets", "minutes": 10},
    # Every minute it checks the keys whose slot has come (each key once a day, spread over the
    # day) and retries unclear hand-over checks, then sends any alert that follows.
    {"name": "keys.run_live_checks", "func": "keys.tasks.run_live_checks", "minutes": 1},
    {"name": "keys.send_campaign_emails", "func": "keys.tasks.send_campaign_emails", "minutes": 1},
    {"name": "keys.forget_spent_limit_slots", "func": "keys.tasks.forget_spent_limit_slots", "minutes": 60},
    # Pipelines hear of a new key within a minute or so: each sweep plans and sends what is due.
    {"name": "keys.send_webhooks", "func": "keys.tasks.send_webhooks", "minutes": 1},
]


def send_reminders() -> dict:
    # Stay well inside django-q2's task timeout (Q_CLUSTER["timeout"]); the rest waits a minute.
    return reminders.sweep(time_budget=60).as_dict()


def run_live_checks() -> dict:
    # Checks and alerts together stay well inside django-q2's task timeout; the alerts the checks
    # plan go out at once, and what has no time left goes next minute.
    report = live_checks.sweep(time_budget=50).as_dict()
    report["alerts"] = alerts.sweep(time_budget=30).sent
    return report


def send_webhooks() -> dict:
    # A POST's own deadline (PORTAL_OUTBOUND_DEADLINE_SECONDS) plus this stays inside the task timeout.
    return webhooks.sweep(time_budget=50)


def send_campaign_emails() -> dict:
    """Invitations and chasers of every campaign that are due; claimed before sent, like reminders."""
    return campaigns.sweep(time_budget=60).as_dict()


def purge_dead_secrets() -> dict:
    """Destroy the secrets of expired, revoked, locked and rejected credentials, and of keys whose
    fix in Canvas did not come within PORTAL_FIX_WINDOW_DAYS; their records stay."""
    now = timezone.now()
    lapsed = Credential.objects.expire_lapsed(now)
    unfixed = Credential.objects.discard_unfixed(now)
    dead = Credential.objects.purge_dead_secrets(now)
    dap_tokens.forget_dead(now)  # the shared Canvas Data 2 tokens of keys that are over, or expired
    if lapsed or dead or unfixed:
        log.info(
            "purged the secrets of %d expired, %d unfixed and %d revoked or locked credential(s)", lapsed, unfixed, dead
        )
    return {"expired": lapsed, "unfixed": unfixed, "purged": dead}


def forget_spent_limit_slots() -> int:
    """Hourly-limit slots free for an hour hold nothing (each client address leaves a few behind)."""
    return limits.forget_spent(timezone.now())
