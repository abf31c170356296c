"""Sending the alerts that live checks plan: a key stopped working, works again, was rejected
after its hand-over, or has had no clear answer for days.

Each alert is one ``CheckAlert`` row, unique per (credential, topic, episode), so an episode is
announced once however many checks see it. Delivery works as reminders do (``keys/reminders.py``):
a sweep claims due rows with one conditional UPDATE and a lease, marks each sent the moment the
mail server accepts it, and retries a refused message with back-off.

Who hears what: a key that stopped working, or was rejected after hand-over, is told to the
institution's contacts (with the renewal link and the likely causes) and to partner staff;
recovery and a long run of unclear answers are staff matters only.
"""

import datetime
import logging
import secrets

from django.conf import settings
from django.core.mail import get_connection
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from keys.models import CheckAlert
from keys.reminders import RETRY_BACKOFF
from portal import emails

log = logging.getLogger(__name__)
Topic = CheckAlert.Topic

# The outcome of the check that started each alert: one of the three words, as everywhere.
OUTCOMES = {
    Topic.FAILING: "rejected",
    Topic.REJECTED: "rejected",
    Topic.RECOVERED: "works",
    Topic.STUCK: "inconclusive",
    Topic.NEEDS_FIX: "rejected",
    Topic.FIX_DEADLINE: "rejected",
}
STAFF_HEADLINES = {
    Topic.FAILING: "stopped working",
    "never_worked": "is refused by Canvas, and no check has seen it work",
    Topic.RECOVERED: "works again",
    Topic.STUCK: "has had no clear answer from Canvas for {days} days",
    Topic.REJECTED: "was rejected by Canvas after it was handed over",
    Topic.NEEDS_FIX: "needs a fix in Canvas before it can be used (kept sealed meanwhile)",
    Topic.FIX_DEADLINE: "still needs its fix in Canvas: its secret is destroyed tomorrow",
}
CUSTOMER_TEMPLATES = {
    Topic.REJECTED: "check-rejected",
    Topic.NEEDS_FIX: "check-needs-fix",
    Topic.FIX_DEADLINE: "check-needs-fix",
}


def sweep(*, batch_size: int = 100) -> dict:
    """Send every alert that is due. Safe to run anywhere, any number of times at once."""
    report = {"sent": 0, "failed": 0, "cancelled": 0}
    claimed = claim_batch(batch_size)
    if not claimed:
        return report
    connection = get_connection()
    try:
        for alert in claimed:
            if alert.topic == Topic.FIX_DEADLINE and alert.credential.status != alert.credential.Status.NEEDS_FIX:
                finish(alert, CheckAlert.State.CANCELLED, "The key no longer waits for a fix in Canvas.")
                report["cancelled"] += 1
                continue
            customer, staff = build_messages(alert)
            first = customer or staff
            if first is None:
                finish(alert, CheckAlert.State.CANCELLED, "No contact on file and no staff address configured.")
                report["cancelled"] += 1
                continue
            try:
                connection.send_messages([first])
            except Exception as exc:  # SMTP refusals, timeouts, dropped connections
                record_failure(alert, exc)
                report["failed"] += 1
                connection.close()
                continue
            delivered = [first]
            if customer and staff:
                try:  # the customer's copy is out: a failing staff copy must not make it go twice
                    connection.send_messages([staff])
                    delivered.append(staff)
                except Exception as exc:
                    log.warning("staff copy of check alert %s failed: %s", alert.pk, type(exc).__name__)
                    connection.close()
            record_sent(alert, delivered)
            report["sent"] += 1
    finally:
        connection.close()
    log.info("check alerts: %(sent)d sent, %(failed)d failed, %(cancelled)d cancelled", report)
    return report


def claim_batch(batch_size: int) -> list[CheckAlert]:
    now = timezone.now()
    due = CheckAlert.objects.filter(state=CheckAlert.State.SCHEDULED, not_before__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    candidates = list(due.order_by("not_before").values_list("pk", flat=True)[:batch_size])
    if not candidates:
        return []
    token = secrets.token_hex(16)
    lease = now + datetime.timedelta(seconds=settings.PORTAL_REMINDER_CLAIM_SECONDS)
    due.filter(pk__in=candidates).update(claimed_by=token, claimed_until=lease)
    return list(
        CheckAlert.objects.filter(pk__in=candidates, claimed_by=token, state=CheckAlert.State.SCHEDULED)
        .select_related("credential__institution")
        .prefetch_related("credential__institution__contacts")
        .order_by("not_before")
    )


def build_messages(alert: CheckAlert) -> tuple:
    credential = alert.credential
    institution = credential.institution
    kind = credential.kind_spec
    contacts = [contact.email for contact in institution.contacts.all()] if alert.tells_customer else []
    staff = list(settings.PORTAL_STAFF_EMAILS)
    worked_before = alert.topic == Topic.FAILING and alert.worked_before
    headline = "never_worked" if alert.topic == Topic.FAILING and not worked_before else alert.topic
    context = {
        "alert": alert,
        "topic": alert.topic,
        "institution": institution,
        "credential": credential,
        "kind": kind,
        "masked_client_id": credential.masked_client_id,
        "reason": alert.reason,
        "outcome": OUTCOMES[alert.topic],
        "since": alert.episode,
        "causes": kind.failure_causes,
        "renewal_url": institution.intake_url(credential.kind),
        "renewal_steps": kind.renewal_instructions_for(credential),
        "admin_url": settings.PORTAL_BASE_URL + reverse("admin:keys_credential_change", args=[credential.pk]),
        "worked_before": worked_before,
        "fix_by": credential.fix_by,
        "headline": STAFF_HEADLINES[headline].format(days=settings.PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS),
    }
    customer = None
    if contacts:
        template = CUSTOMER_TEMPLATES.get(alert.topic, "check-failing")
        customer = _with_id(emails.build(template, contacts, context), alert, "customer")
    staff_copy = _with_id(emails.build("staff-check-alert", staff, context), alert, "staff") if staff else None
    return customer, staff_copy


def _with_id(message, alert: CheckAlert, audience: str):
    # Stable per alert: a copy re-sent after a crash is recognisably the same message.
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "keydrop"
    message.extra_headers["Message-ID"] = f"<check-alert-{alert.pk}-{audience}@{domain}>"
    message.extra_headers["X-Keydrop-Check-Alert"] = f"{alert.credential_id}:{alert.topic}:{audience}"
    return message


def record_sent(alert: CheckAlert, messages) -> None:
    CheckAlert.objects.filter(pk=alert.pk, claimed_by=alert.claimed_by).update(
        state=CheckAlert.State.SENT,
        sent_at=timezone.now(),
        recipients="\n".join(address for message in messages for address in message.to),
        attempts=F("attempts") + 1,
        last_error="",
        claimed_until=None,
    )


def record_failure(alert: CheckAlert, exc: Exception) -> None:
    attempt = alert.attempts + 1
    delay = RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]
    log.warning("check alert %s failed (attempt %d): %s", alert.pk, attempt, type(exc).__name__)
    CheckAlert.objects.filter(pk=alert.pk, claimed_by=alert.claimed_by).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:300],
        not_before=timezone.now() + datetime.timedelta(seconds=delay),
        claimed_by="",
        claimed_until=None,
    )


def finish(alert: CheckAlert, state: str, reason: str) -> None:
    CheckAlert.objects.filter(pk=alert.pk, claimed_by=alert.claimed_by).update(
        state=state, last_error=reason[:300], claimed_until=None
    )
