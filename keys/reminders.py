"""The renewal-reminder sweep: claim due reminders, send each, record each.

Guarantees, and where they come from (the database, not timing):
- A reminder goes out at most once however many sweeps run at once: a sweep claims a batch with
  one conditional UPDATE (rows still unclaimed, or whose claim has run out) and sends only rows
  carrying its own claim token. On PostgreSQL a racing UPDATE re-checks the condition after the
  winner commits; on SQLite writers queue. (credential, offset) is unique besides.
- None is lost when a worker dies: a claim is a lease (PORTAL_REMINDER_CLAIM_SECONDS). Each
  reminder is marked sent the moment the mail server accepts it, so a dead worker's unsent
  reminders go to the next sweep once its lease runs out. The one window left is between the
  server's "250 OK" and that UPDATE; a reminder re-sent from it carries the same Message-ID.
- A refused message is retried with back-off; later reminders, and the lapse notice, still follow.
"""

import datetime
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.db.models import F, Min, Q
from django.utils import timezone

from keys.models import Credential, PipelineEvent, ReminderNotice
from portal import emails

log = logging.getLogger(__name__)

RETRY_BACKOFF = [5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60]  # seconds, then every 6 hours


@dataclass
class SweepReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped}


def sweep(*, batch_size: int = 100, time_budget: float = 60.0) -> SweepReport:
    """Send every reminder that is due now. Safe to run anywhere, any number of times at once."""
    report = SweepReport()
    deadline = time.monotonic() + time_budget
    while time.monotonic() < deadline:
        claimed = claim_batch(batch_size, time_left=deadline - time.monotonic())
        if not claimed:
            break
        deliver(claimed, report, deadline)
        if len(claimed) < batch_size:
            break
    if report.sent or report.failed:
        log.info("reminder sweep: %(sent)d sent, %(failed)d failed, %(skipped)d skipped", report.as_dict())
    return report


def claim_batch(batch_size: int, *, time_left: float = 0.0) -> list[ReminderNotice]:
    """Claim up to ``batch_size`` due reminders for this sweep; the claim outlasts its ``time_left``."""
    now = timezone.now()
    candidates = list(ReminderNotice.objects.due(now).order_by("not_before").values_list("pk", flat=True)[:batch_size])
    if not candidates:
        return []
    token = secrets.token_hex(16)
    lease = now + datetime.timedelta(
        seconds=emails.claim_lease_seconds(time_left, settings.PORTAL_REMINDER_CLAIM_SECONDS)
    )
    # The condition is re-checked row by row: a row another sweep claimed meanwhile is not taken.
    ReminderNotice.objects.due(now).filter(pk__in=candidates).update(claimed_by=token, claimed_until=lease)
    return list(
        ReminderNotice.objects.filter(pk__in=candidates, claimed_by=token, state=ReminderNotice.State.SCHEDULED)
        .select_related("credential__institution")
        .prefetch_related("credential__institution__contacts")
        .order_by("not_before")
    )


def deliver(claimed: list[ReminderNotice], report: SweepReport, deadline: float) -> None:
    now = timezone.now()
    nearest_due = nearest_due_offsets({notice.credential_id for notice in claimed}, now)
    connection = get_connection()
    try:
        for position, notice in enumerate(claimed):
            if time.monotonic() >= deadline:
                release(claimed[position:])
                break
            reason = skip_reason(notice, nearest_due)
            if not notice.credential.is_silenced and not notice.is_lapse_notice:  # pipelines hear it, mail or not
                PipelineEvent.objects.emit(
                    PipelineEvent.Type.EXPIRING,
                    notice.credential,
                    detail=f"{notice.offset_days} days left",
                    dedupe=str(notice.offset_days),
                )
            if reason:
                silenced = notice.credential.is_silenced
                finish(notice, ReminderNotice.State.CANCELLED if silenced else ReminderNotice.State.SKIPPED, reason)
                report.skipped += 1
                continue
            customer_message, staff_message = build_messages(notice, now)
            try:
                connection.send_messages([customer_message or staff_message])
            except Exception as exc:  # SMTP refusals, timeouts, dropped connections
                record_failure(notice, exc)
                report.failed += 1
                connection.close()  # a broken session must not fail the next message too
                continue
            delivered = [customer_message or staff_message]
            if customer_message and staff_message:
                # The customer's copy is out: a failing staff copy must not make it go twice.
                try:
                    connection.send_messages([staff_message])
                    delivered.append(staff_message)
                except Exception as exc:
                    log.warning(
                        "staff copy of reminder %s of credential %s failed: %s",
                        notice,
                        notice.credential_id,
                        type(exc).__name__,
                    )
                    connection.close()
            record_sent(notice, delivered)
            report.sent += 1
    finally:
        connection.close()


def nearest_due_offsets(credential_ids: set[int], now) -> dict[int, int]:
    """For each credential, the smallest offset already due: earlier, unsent ones are stale."""
    live = [ReminderNotice.State.SCHEDULED, ReminderNotice.State.SENT]
    rows = (
        ReminderNotice.objects.filter(credential_id__in=credential_ids, state__in=live, due_at__lte=now)
        .values("credential_id")
        .annotate(nearest=Min("offset_days"))
    )
    return {row["credential_id"]: row["nearest"] for row in rows}


def skip_reason(notice: ReminderNotice, nearest_due: dict[int, int]) -> str:
    credential = notice.credential
    if credential.is_silenced:
        return f"The credential is {credential.get_status_display().lower()}."
    if notice.offset_days > nearest_due.get(credential.pk, notice.offset_days):
        return "A later reminder was already due."
    if not any(recipients_for(notice)):
        return "No contact on file and no staff address configured."
    return ""


def recipients_for(notice: ReminderNotice) -> tuple[list[str], list[str]]:
    contacts = [contact.email for contact in notice.credential.institution.contacts.all()]
    staff = list(settings.PORTAL_STAFF_EMAILS) if notice.credential.is_final_reminder(notice.offset_days) else []
    return contacts, staff


def build_messages(notice: ReminderNotice, now) -> tuple:
    credential = notice.credential
    institution = credential.institution
    kind = credential.kind_spec
    contacts, staff = recipients_for(notice)
    days_left = credential.days_left(now)
    context = {
        "institution": institution,
        "credential": credential,
        "kind": kind,
        "masked_client_id": credential.masked_client_id,
        "expires_on": credential.expires_on(),
        "days_left": days_left,
        "lapsed": notice.is_lapse_notice or (days_left is not None and days_left <= 0),
        "renewal_url": institution.intake_url(credential.kind),
        "renewal_steps": kind.renewal_instructions_for(credential),
    }
    if staff:  # staff decide how urgent a lapse is: does another key of this kind still work?
        context["older_working"] = older_keys_still_working(credential, now)
        context["newer_keys"] = newer_keys(credential)
    template = "lapse-notice" if context["lapsed"] else "renewal-reminder"
    customer = _with_id(emails.build(template, contacts, context), notice, "customer") if contacts else None
    staff_copy = _with_id(emails.build("staff-final-reminder", staff, context), notice, "staff") if staff else None
    return customer, staff_copy


def _with_id(message, notice: ReminderNotice, audience: str):
    # Stable per reminder: a copy re-sent after a crash is recognisably the same message.
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "keydrop"
    message.extra_headers["Message-ID"] = f"<reminder-{notice.pk}-{audience}@{domain}>"
    message.extra_headers["X-Keydrop-Reminder"] = f"{notice.credential_id}:{notice.offset_days}:{audience}"
    return message


def record_sent(notice: ReminderNotice, messages) -> None:
    recipients = "\n".join(address for message in messages for address in message.to)
    ReminderNotice.objects.filter(pk=notice.pk, claimed_by=notice.claimed_by).update(
        state=ReminderNotice.State.SENT,
        sent_at=timezone.now(),
        recipients=recipients,
        attempts=F("attempts") + 1,
        last_error="",
        claimed_until=None,
    )


def record_failure(notice: ReminderNotice, exc: Exception) -> None:
    attempt = notice.attempts + 1
    delay = RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]
    log.warning(
        "reminder %s of credential %s failed (attempt %d): %s",
        notice,
        notice.credential_id,
        attempt,
        type(exc).__name__,
    )
    ReminderNotice.objects.filter(pk=notice.pk, claimed_by=notice.claimed_by).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:300],
        not_before=timezone.now() + datetime.timedelta(seconds=delay),
        claimed_by="",
        claimed_until=None,
    )


def finish(notice: ReminderNotice, state: str, reason: str) -> None:
    ReminderNotice.objects.filter(pk=notice.pk, claimed_by=notice.claimed_by).update(
        state=state, state_reason=reason, claimed_until=None
    )


def release(notices: list[ReminderNotice]) -> None:
    """Out of time: hand the rest back at once instead of making them wait for the lease."""
    ReminderNotice.objects.filter(
        pk__in=[n.pk for n in notices], state=ReminderNotice.State.SCHEDULED, claimed_by=notices[0].claimed_by
    ).update(claimed_by="", claimed_until=None)


def older_keys_still_working(credential: Credential, now: datetime.datetime) -> list[Credential]:
    """Older keys of this institution and kind that are usable, not refused by Canvas, and
    outlive this one: while one exists, this key's lapse does not stop the data."""
    older = (
        Credential.objects.usable(now)
        .filter(institution_id=credential.institution_id, kind=credential.kind, verified_at__lt=credential.verified_at)
        .filter(failing_since__isnull=True)
        .exclude(pk=credential.pk)
        .defer("secret")
    )
    if credential.expires_at:
        older = older.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=credential.expires_at))
    return list(older.select_related("institution").order_by("-verified_at"))


def newer_keys(credential: Credential) -> list[Credential]:
    """Keys of this institution and kind verified after this one (that count as a renewal)."""
    return list(
        Credential.objects.filter(institution_id=credential.institution_id, kind=credential.kind)
        .filter(verified_at__gt=credential.verified_at, status__in=credential.TRACKED_STATUSES)
        .defer("secret")
        .select_related("institution")
        .order_by("-verified_at")
    )
