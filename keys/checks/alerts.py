"""Sending the alerts that live checks plan: a key stopped working, works again, was rejected
after its hand-over, or has had no clear answer for days.

Each alert is one ``CheckAlert`` row, unique per (credential, topic, episode), so an episode is
announced once however many checks see it. It goes out through the outbox (keys/outbox.py), which
claims, sends once, records and retries with back-off; what differs is here. Right before sending,
a "discarded tomorrow" alert about a key that no longer waits for its fix is cancelled, and so is
an alert with nobody to tell.

Who hears what: a key that stopped working, or was rejected after hand-over, is told to the
institution's contacts (with the renewal link and the likely causes) and to partner staff;
recovery and a long run of unclear answers are staff matters only.
"""

from django.conf import settings
from django.urls import reverse

from keys import outbox
from keys.models import CheckAlert
from portal import emails

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


class Alerts(outbox.EmailOutbox):
    model = CheckAlert
    noun = "check alert"

    def load(self, claimed):
        return claimed.select_related("credential__institution").prefetch_related("credential__institution__contacts")

    def hold(self, alert: CheckAlert, now) -> outbox.Hold | None:
        if alert.topic == Topic.FIX_DEADLINE and alert.credential.status != alert.credential.Status.NEEDS_FIX:
            return outbox.Hold.cancel("The key no longer waits for a fix in Canvas.")
        if not (settings.PORTAL_STAFF_EMAILS or (alert.tells_customer and customer_addresses(alert))):
            return outbox.Hold.cancel("No contact on file and no staff address configured.")
        return None

    def emails(self, alert: CheckAlert, now) -> list:
        return [message for message in build_messages(alert) if message is not None]


def sweep(*, batch_size: int = 100, time_budget: float = 60.0) -> outbox.Report:
    """Send every alert that is due. Safe to run anywhere, any number of times at once."""
    return Alerts().sweep(batch_size=batch_size, time_budget=time_budget)


def customer_addresses(alert: CheckAlert) -> list[str]:
    return [contact.email for contact in alert.credential.institution.contacts.all()]


def build_messages(alert: CheckAlert) -> tuple:
    credential = alert.credential
    institution = credential.institution
    kind = credential.kind_spec
    contacts = customer_addresses(alert) if alert.tells_customer else []
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
        customer = _stamped(emails.build(template, contacts, context), alert, "customer")
    staff_copy = _stamped(emails.build("staff-check-alert", staff, context), alert, "staff") if staff else None
    return customer, staff_copy


def _stamped(message, alert: CheckAlert, audience: str):
    value = f"{alert.credential_id}:{alert.topic}:{audience}"
    return outbox.stamp(message, f"check-alert-{alert.pk}-{audience}", "X-Keydrop-Check-Alert", value)
