"""Renewal reminders through the outbox (keys/outbox.py): what differs about sending them.

The outbox guarantees each reminder goes out at most once however many sweeps run, that none is
lost when a worker dies, and that a refused one is retried with back-off. Here, right before
sending: a silenced credential's reminders are cancelled; a reminder that failed until a later one
fell due is skipped (the later one says it), while the lapse notice still follows; final reminders
also go to partner staff, as a copy that may fail without the customer's going twice.
"""

import datetime

from django.conf import settings
from django.db.models import Min, Q

from keys import outbox
from keys.models import Credential, PipelineEvent, ReminderNotice
from portal import emails


class Reminders(outbox.EmailOutbox):
    model = ReminderNotice
    noun = "reminder"

    def load(self, claimed):
        return claimed.select_related("credential__institution").prefetch_related("credential__institution__contacts")

    def prepare(self, batch: list[ReminderNotice], now) -> None:
        self.nearest_due = nearest_due_offsets({notice.credential_id for notice in batch}, now)

    def hold(self, notice: ReminderNotice, now) -> outbox.Hold | None:
        credential = notice.credential
        if credential.is_silenced:
            return outbox.Hold.cancel(f"The credential is {credential.get_status_display().lower()}.")
        if not notice.is_lapse_notice:  # pipelines hear it at each offset, whether the email goes or not
            PipelineEvent.objects.emit(
                PipelineEvent.Type.EXPIRING,
                credential,
                detail=f"{notice.offset_days} days left",
                dedupe=str(notice.offset_days),
            )
        if notice.offset_days > self.nearest_due.get(credential.pk, notice.offset_days):
            return outbox.Hold.skip("A later reminder was already due.")
        if not any(recipients_for(notice)):
            return outbox.Hold.skip("No contact on file and no staff address configured.")
        return None

    def emails(self, notice: ReminderNotice, now) -> list:
        return [message for message in build_messages(notice, now) if message is not None]


def sweep(*, batch_size: int = 100, time_budget: float = 60.0) -> outbox.Report:
    """Send every reminder that is due. Safe to run anywhere, any number of times at once."""
    return Reminders().sweep(batch_size=batch_size, time_budget=time_budget)


def nearest_due_offsets(credential_ids: set[int], now) -> dict[int, int]:
    """For each credential, the smallest offset already due: earlier, unsent ones are stale."""
    live = [ReminderNotice.State.SCHEDULED, ReminderNotice.State.SENT]
    rows = (
        ReminderNotice.objects.filter(credential_id__in=credential_ids, state__in=live, due_at__lte=now)
        .values("credential_id")
        .annotate(nearest=Min("offset_days"))
    )
    return {row["credential_id"]: row["nearest"] for row in rows}


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
    customer = _stamped(emails.build(template, contacts, context), notice, "customer") if contacts else None
    staff_copy = _stamped(emails.build("staff-final-reminder", staff, context), notice, "staff") if staff else None
    return customer, staff_copy


def _stamped(message, notice: ReminderNotice, audience: str):
    value = f"{notice.credential_id}:{notice.offset_days}:{audience}"
    return outbox.stamp(message, f"reminder-{notice.pk}-{audience}", "X-Keydrop-Reminder", value)


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
