"""Sending campaign emails through the outbox (keys/outbox.py): what differs about them.

The outbox guarantees each email goes out at most once however many sweeps run, none is lost when
a worker dies, and a refused one is retried with back-off. Here, right before sending:
- Chasing stops the moment a key is verified, and nothing goes to an address no longer on file:
  every message is checked against the institution's credentials and contacts (``cancel_reason``).
- No address gets more than PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY campaign emails a day: a
  message takes a numbered slot for its address and day (unique in the database) before it is
  sent, and without a free slot it waits for the next day. Taking the slot re-checks the claim
  token, so a sweep whose claim ran out and was taken over cannot send either. A refused email
  gives its slot back.
- The first invitation to reach any of an institution's contacts starts its chase clock.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Q
from django.utils import timezone

from keys import kinds, outbox
from keys.models import AdminContact, Campaign, CampaignInvitation, CampaignMessage, Credential
from portal import emails


@dataclass
class CampaignReport(outbox.Report):
    planned_chasers: int = 0

    def as_dict(self) -> dict:
        return {**super().as_dict(), "planned_chasers": self.planned_chasers}


class CampaignEmails(outbox.EmailOutbox):
    model = CampaignMessage
    noun = "campaign email"
    reset_on_retry = {"send_day": None, "send_slot": None}  # an email not sent does not count against the address

    def __init__(self, campaign: Campaign | None = None):
        self.campaign = campaign

    def due(self, now):
        due = super().due(now)
        return due if self.campaign is None else due.filter(invitation__campaign=self.campaign)

    def load(self, claimed):
        return claimed.select_related("invitation__campaign", "invitation__institution", "contact")

    def hold(self, message: CampaignMessage, now) -> outbox.Hold | None:
        reason = cancel_reason(message, now)
        if reason:
            return outbox.Hold.cancel(reason)
        if not take_slot(message, timezone.localdate(now)):
            return outbox.Hold.wait(next_day(now))
        return None

    def emails(self, message: CampaignMessage, now) -> list:
        return [build_email(message)]

    def after_sent(self, message: CampaignMessage, now) -> None:
        if message.round == 0:
            # The first invitation to reach any contact starts the institution's chase clock.
            chase = now + datetime.timedelta(days=message.invitation.campaign.chase_after_days)
            CampaignInvitation.objects.filter(pk=message.invitation_id, invited_at__isnull=True).update(
                invited_at=now, next_chase_at=chase
            )


def send(
    *, campaign: Campaign | None = None, batch_size: int = 100, time_budget: float = 60.0, report=None
) -> CampaignReport:
    """Send the campaign emails that are due (only ``campaign``'s, if given)."""
    report = report or CampaignReport()
    return CampaignEmails(campaign).sweep(batch_size=batch_size, time_budget=time_budget, report=report)


def next_day(now: datetime.datetime) -> datetime.datetime:
    """The first moment of tomorrow, where an address's daily limit starts again."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)


def cancel_reason(message: CampaignMessage, now: datetime.datetime) -> str:
    """Why this email must not go now, or "". Asked right before sending: chasing stops the moment
    a key is verified, and nothing goes to an address no longer on file."""
    invitation = message.invitation
    current = (
        CampaignInvitation.objects.filter(pk=invitation.pk)
        .annotate(on_file=Exists(AdminContact.objects.filter(pk=message.contact_id or 0)))
        .values("is_open", "close_reason", "on_file")
        .get()
    )
    if not current["on_file"]:
        return "The address is no longer on file."
    if not current["is_open"]:
        return f"The institution's invitation closed: {current['close_reason'] or 'closed'}"
    # The same reading as CampaignInvitationQuerySet.with_stages, for one institution: what was
    # submitted since the campaign began, and a partner key awaiting its secret whenever it came.
    mine = {"institution_id": invitation.institution_id, "kind": invitation.kind}
    since = Credential.objects.filter(**mine, submitted_at__gte=invitation.campaign.created_at)
    waiting = Credential.objects.awaiting_partner_secret(now).filter(**mine)
    handed_over = (
        (since | waiting)
        .exclude(status=Credential.Status.LOCKED)
        .aggregate(submitted=Count("pk"), verified=Count("pk", filter=Q(verified_at__isnull=False)))
    )
    if handed_over["verified"]:
        return "A key was verified."
    if handed_over["submitted"]:
        return "A key was handed over and awaits its code."
    return ""


def take_slot(message: CampaignMessage, today: datetime.date) -> bool:
    """One of the address's numbered slots for today, or False if all are taken.

    A slot is a unique (address, day, number) triple on the message row, so two sweeps cannot
    both take the last one.
    """
    if message.send_day == today and message.send_slot is not None:
        return True  # kept from a claim whose worker died before sending
    for slot in range(settings.PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY):
        try:
            with transaction.atomic():
                taken = CampaignMessage.objects.filter(pk=message.pk, claimed_by=message.claimed_by).update(
                    send_day=today, send_slot=slot
                )
        except IntegrityError:
            continue
        if taken:
            message.send_day, message.send_slot = today, slot
        return bool(taken)
    return False


def build_email(message: CampaignMessage):
    invitation = message.invitation
    institution = invitation.institution
    kind = kinds.get(invitation.kind)
    context = {
        "institution": institution,
        "links": [(kind, invitation.intake_url())],
        "chaser": message.is_chaser,
        "contact": message.contact,
    }
    email = emails.build("invitation", [message.email], context)
    value = f"{invitation.campaign_id}:{invitation.pk}:{message.round}:{message.pk}"
    return outbox.stamp(email, f"campaign-{message.pk}", "X-Keydrop-Campaign", value)
