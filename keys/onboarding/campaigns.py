"""Invitation campaigns: ask many institutions for one kind of key, follow who responds, chase the rest.

Guarantees, and where they come from (the database, not timing):
- An institution is in at most one open campaign per kind: a conditional unique constraint. Two
  campaigns started at once (two `invite` commands, two staff members) split the institutions
  between them; neither invites one the other took.
- Each email goes out at most once however many sweeps run at once: every email is a row, unique
  per (invitation, address, round), claimed with one conditional UPDATE and a lease exactly as
  reminders are (keys/reminders.py); a sweep sends only rows carrying its own claim token.
- Each chaser round is planned once: the round counter moves by a conditional UPDATE, and the
  rows of a round are unique besides.
- No address gets more than PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY campaign emails a day: a
  message takes a numbered slot for its address and day (unique in the database) before it is
  sent, and without a free slot it waits for the next day. Taking the slot re-checks the claim
  token, so a sweep whose claim ran out and was taken over cannot send either.
- Chasing stops the moment a key is verified: every message is checked against the
  institution's credentials right before it is sent. An institution whose verified partner key
  awaits its secret (Instructure sends it to the partner) is done: never invited, never chased.
- A claim outlasts the sweep that holds it: its lease runs past the sweep's time budget by the
  longest the email in flight may still take (``claim_seconds``), so no other sweep can take over
  a message its sender may yet send.
- The window left is the reminders' one: a worker dying between the mail server's "250 OK" and the
  write that records it. The re-sent copy carries the same Message-ID.
"""

import datetime
import logging
import secrets
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from keys import audit, kinds
from keys.models import AdminContact, Campaign, CampaignInvitation, CampaignMessage, Credential, Institution
from portal import emails

log = logging.getLogger(__name__)

RETRY_BACKOFF = [5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60]  # seconds, then every 6 hours
STAGES = ["scheduled", "invited", "opened", "submitted", "verified", "works"]
STAGE_LABELS = {
    "scheduled": "Not sent yet",
    "invited": "Invited",
    "opened": "Opened the link",
    "submitted": "Submitted",
    "verified": "Verified",
    "works": "Works",
}


# Choosing institutions ----------------------------------------------------------------------


def without_working_key(kind: str, now: datetime.datetime | None = None, institutions=None):
    """Institutions that owe a key of this kind: none works, and none is a verified partner key
    awaiting its secret (the customer has done their part). The usual audience of a campaign."""
    working = Credential.objects.working(now).filter(institution=OuterRef("pk"), kind=kind)
    institutions = institutions if institutions is not None else Institution.objects.all()
    return without_partner_key_awaiting_secret(institutions.exclude(Exists(working)), kind, now)


def without_partner_key_awaiting_secret(institutions, kind: str, now: datetime.datetime | None = None):
    """Leave out institutions whose verified partner key of this kind awaits its secret: only
    partner staff can finish it, so asking the customer again would be noise."""
    waiting = Credential.objects.awaiting_partner_secret(now).filter(institution=OuterRef("pk"), kind=kind)
    return institutions.exclude(Exists(waiting))


def never_handed_over(institutions=None):
    """Institutions that never got as far as a verified key of any kind."""
    verified = Credential.objects.filter(institution=OuterRef("pk"), verified_at__isnull=False)
    return (institutions if institutions is not None else Institution.objects.all()).exclude(Exists(verified))


def select_candidates(institutions, kind: str) -> list[int]:
    """The institutions to invite: with a contact on file, and not in another open campaign of the kind.

    Only a first cut: the database decides at insert time (see ``start``).
    """
    taken = CampaignInvitation.objects.filter(institution=OuterRef("pk"), kind=kind, is_open=True)
    return list(
        institutions.filter(Exists(AdminContact.objects.filter(institution=OuterRef("pk"))))
        .exclude(Exists(taken))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass
class Started:
    campaign: Campaign | None
    institutions: int = 0
    contacts: int = 0
    taken: int = 0  # already in an open campaign of this kind (perhaps one started at the same moment)
    without_contacts: int = 0
    awaiting_secret: int = 0  # done: their verified partner key awaits the secret Instructure sends


def start(
    institutions,
    *,
    kind: str,
    name: str,
    actor: str,
    now: datetime.datetime,
    ip: str | None = None,
    chase_after_days: int | None = None,
    max_chasers: int | None = None,
) -> Started:
    """Create a campaign for these institutions and plan one invitation per contact.

    Nothing is sent here: sweeps send (the `invite` command runs one at once). Returns a campaign
    of None when every institution was taken or has no contact.
    """
    kinds.get(kind)  # KeyError for an unknown kind, before anything is written
    # Whoever chose them (a filter, ticked rows), an institution that has done its part is not asked.
    chosen = institutions.count()
    institutions = without_partner_key_awaiting_secret(institutions, kind, now)
    awaiting_secret = chosen - institutions.count()
    reachable = institutions.filter(Exists(AdminContact.objects.filter(institution=OuterRef("pk")))).count()
    without_contacts = institutions.count() - reachable
    candidates = select_candidates(institutions, kind)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            kind=kind,
            created_by=actor,
            created_at=now,
            **({"chase_after_days": chase_after_days} if chase_after_days is not None else {}),
            **({"max_chasers": min(max_chasers, Campaign.MAX_CHASERS_LIMIT)} if max_chasers is not None else {}),
        )
        # Another campaign may have taken some of them since we looked: the open-invitation
        # constraint drops those rows, and what is left is ours.
        CampaignInvitation.objects.bulk_create(
            [CampaignInvitation(campaign=campaign, institution_id=pk, kind=kind) for pk in candidates],
            ignore_conflicts=True,
            batch_size=500,
        )
        ours = dict(CampaignInvitation.objects.filter(campaign=campaign).values_list("institution_id", "pk"))
        if not ours:
            transaction.set_rollback(True)
            return Started(None, taken=reachable, without_contacts=without_contacts, awaiting_secret=awaiting_secret)
        contacts = AdminContact.objects.filter(institution_id__in=list(ours)).values_list(
            "pk", "institution_id", "email"
        )
        messages = [
            CampaignMessage(invitation_id=ours[institution_id], contact_id=pk, email=email, round=0, not_before=now)
            for pk, institution_id, email in contacts
        ]
        CampaignMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=500)
        audit.record(
            audit.Action.CAMPAIGN,
            actor=actor,
            ip=ip,
            at=now,
            detail=f"{name}: {kinds.get(kind).label} asked of {len(ours)} institution(s), {len(messages)} contact(s)",
        )
    log.info("campaign %s started: %d institution(s), %d contact(s)", campaign.pk, len(ours), len(messages))
    return Started(
        campaign,
        institutions=len(ours),
        contacts=len(messages),
        taken=reachable - len(ours),
        without_contacts=without_contacts,
        awaiting_secret=awaiting_secret,
    )


# Sending ---------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0  # over an address's daily limit: waits for tomorrow
    cancelled: int = 0
    planned_chasers: int = 0
    recipients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "deferred": self.deferred,
            "cancelled": self.cancelled,
            "planned_chasers": self.planned_chasers,
        }


def sweep(*, campaign: Campaign | None = None, batch_size: int = 100, time_budget: float = 60.0) -> SweepReport:
    """Plan due chasers, then send every campaign email that is due. Safe to run anywhere, at once.

    With a campaign, only that campaign's emails are sent (the `invite` command), and chasers are
    left to the scheduled sweep.
    """
    report = SweepReport()
    deadline = time.monotonic() + time_budget
    if campaign is None:
        report.planned_chasers = plan_chasers(timezone.now())
    while time.monotonic() < deadline:
        candidates, claimed = claim_batch(batch_size, campaign, time_left=deadline - time.monotonic())
        if not candidates:
            break
        # Another sweep may have claimed all of them first: then look again for the rest.
        deliver(claimed, report, deadline)
    if report.sent or report.failed or report.planned_chasers:
        log.info(
            "campaign sweep: %(sent)d sent, %(failed)d failed, %(deferred)d deferred, %(cancelled)d cancelled, "
            "%(planned_chasers)d chaser(s) planned",
            report.as_dict(),
        )
    return report


def due_candidates(now: datetime.datetime, batch_size: int, campaign: Campaign | None) -> list[int]:
    due = CampaignMessage.objects.due(now)
    if campaign is not None:
        due = due.filter(invitation__campaign=campaign)
    return list(due.order_by("not_before", "pk").values_list("pk", flat=True)[:batch_size])


def claim_seconds(time_left: float) -> float:
    """How long a claim lasts (see emails.claim_lease_seconds): the sweep's time budget, whatever a
    command was given, is the one input, so the lease cannot fall short of it."""
    return emails.claim_lease_seconds(time_left, settings.PORTAL_CAMPAIGN_CLAIM_SECONDS)


def claim_batch(
    batch_size: int, campaign: Campaign | None = None, *, time_left: float = 0.0
) -> tuple[list[int], list[CampaignMessage]]:
    """The due rows this sweep looked at, and those of them it claimed (none if others were first).

    ``time_left`` is what remains of the sweep's time budget: the claim outlasts it."""
    now = timezone.now()
    candidates = due_candidates(now, batch_size, campaign)
    if not candidates:
        return [], []
    token = secrets.token_hex(16)
    lease = now + datetime.timedelta(seconds=claim_seconds(time_left))
    # The condition is re-checked row by row: a row another sweep claimed meanwhile is not taken.
    CampaignMessage.objects.due(now).filter(pk__in=candidates).update(claimed_by=token, claimed_until=lease)
    return candidates, list(
        CampaignMessage.objects.filter(pk__in=candidates, claimed_by=token, state=CampaignMessage.State.SCHEDULED)
        .select_related("invitation__campaign", "invitation__institution", "contact")
        .order_by("not_before", "pk")
    )


def deliver(claimed: list[CampaignMessage], report: SweepReport, deadline: float) -> None:
    if not claimed:
        return
    now = timezone.now()
    today = timezone.localdate(now)
    connection = get_connection()
    try:
        for position, message in enumerate(claimed):
            if time.monotonic() >= deadline:
                release(claimed[position:])
                break
            reason = cancel_reason(message, now)
            if reason:
                finish(message, reason)
                report.cancelled += 1
                continue
            if not take_slot(message, today):
                defer(message, now)
                report.deferred += 1
                continue
            try:
                connection.send_messages([build_email(message)])
            except Exception as exc:  # SMTP refusals, timeouts, dropped connections
                record_failure(message, exc)
                report.failed += 1
                connection.close()  # a broken session must not fail the next message too
                continue
            record_sent(message, now)
            report.sent += 1
            report.recipients.append(message.email)
    finally:
        connection.close()


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
    if Credential.objects.working(now).filter(**mine).exists():
        return "A key of this kind works."
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
    # Stable per message: a copy re-sent after a crash is recognisably the same message.
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "keydrop"
    email.extra_headers["Message-ID"] = f"<campaign-{message.pk}@{domain}>"
    email.extra_headers["X-Keydrop-Campaign"] = f"{invitation.campaign_id}:{invitation.pk}:{message.round}:{message.pk}"
    return email


def record_sent(message: CampaignMessage, now: datetime.datetime) -> None:
    CampaignMessage.objects.filter(pk=message.pk, claimed_by=message.claimed_by).update(
        state=CampaignMessage.State.SENT,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        last_error="",
        claimed_until=None,
    )
    if message.round == 0:
        # The first invitation to reach any contact starts the institution's chase clock.
        chase = now + datetime.timedelta(days=message.invitation.campaign.chase_after_days)
        CampaignInvitation.objects.filter(pk=message.invitation_id, invited_at__isnull=True).update(
            invited_at=now, next_chase_at=chase
        )


def record_failure(message: CampaignMessage, exc: Exception) -> None:
    attempt = message.attempts + 1
    delay = RETRY_BACKOFF[min(attempt, len(RETRY_BACKOFF)) - 1]
    log.warning("campaign email %s failed (attempt %d): %s", message.pk, attempt, type(exc).__name__)
    # The slot goes back: an email that was not sent does not count against the address.
    CampaignMessage.objects.filter(pk=message.pk, claimed_by=message.claimed_by).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:300],
        not_before=timezone.now() + datetime.timedelta(seconds=delay),
        claimed_by="",
        claimed_until=None,
        send_day=None,
        send_slot=None,
    )


def defer(message: CampaignMessage, now: datetime.datetime) -> None:
    """Over the address's limit for today: try again from the first moment of tomorrow."""
    tomorrow = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
    CampaignMessage.objects.filter(pk=message.pk, claimed_by=message.claimed_by).update(
        not_before=tomorrow, claimed_by="", claimed_until=None, send_day=None, send_slot=None
    )


def finish(message: CampaignMessage, reason: str) -> None:
    CampaignMessage.objects.filter(pk=message.pk, claimed_by=message.claimed_by).update(
        state=CampaignMessage.State.CANCELLED, state_reason=reason[:200], claimed_until=None
    )


def release(messages: list[CampaignMessage]) -> None:
    """Out of time: hand the rest back at once instead of making them wait for the lease."""
    CampaignMessage.objects.filter(
        pk__in=[m.pk for m in messages], state=CampaignMessage.State.SCHEDULED, claimed_by=messages[0].claimed_by
    ).update(claimed_by="", claimed_until=None)


# Chasing ----------------------------------------------------------------------------------------


def plan_chasers(now: datetime.datetime, limit: int = 1000) -> int:
    """For each invitation whose chase time has come: close it if a key was verified or the
    chasers ran out, wait if a submission is awaiting its code, else plan the next round."""
    due = (
        CampaignInvitation.objects.filter(is_open=True, next_chase_at__lte=now)
        .with_chase(now)
        .select_related("campaign")
        .order_by("next_chase_at")[:limit]
    )
    planned = 0
    for invitation in due:
        campaign = invitation.campaign
        later = now + datetime.timedelta(days=campaign.chase_after_days)
        if invitation.verified:
            close(invitation, now, "A key was verified.")
        elif not invitation.chased:
            close(invitation, now, "A key of this kind works.")
        elif invitation.submitted:
            # Awaiting its code; if it locks, the institution is chased again next time.
            CampaignInvitation.objects.filter(pk=invitation.pk, next_chase_at=invitation.next_chase_at).update(
                next_chase_at=later
            )
        elif invitation.chasers_planned >= campaign.max_chasers:
            close(invitation, now, f"No key after {campaign.max_chasers} chaser(s).")
        else:
            planned += plan_round(invitation, now, later)
    return planned


def plan_round(invitation: CampaignInvitation, now: datetime.datetime, later: datetime.datetime) -> int:
    """The next chaser round, to the contacts on file now. Only one planner moves the counter."""
    round_number = invitation.chasers_planned + 1
    with transaction.atomic():
        won = CampaignInvitation.objects.filter(
            pk=invitation.pk, is_open=True, chasers_planned=invitation.chasers_planned, next_chase_at__lte=now
        ).update(chasers_planned=round_number, next_chase_at=later)
        if not won:
            return 0
        rows = [
            CampaignMessage(invitation=invitation, contact_id=pk, email=email, round=round_number, not_before=now)
            for pk, email in AdminContact.objects.filter(institution_id=invitation.institution_id).values_list(
                "pk", "email"
            )
        ]
        CampaignMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def close(invitation: CampaignInvitation, now: datetime.datetime, reason: str) -> None:
    CampaignInvitation.objects.filter(pk=invitation.pk, is_open=True).update(
        is_open=False, closed_at=now, close_reason=reason
    )
    CampaignMessage.objects.filter(invitation=invitation, state=CampaignMessage.State.SCHEDULED, claimed_by="").update(
        state=CampaignMessage.State.CANCELLED, state_reason=reason
    )


# Reading -----------------------------------------------------------------------------------------


def stage_of(invitation: CampaignInvitation) -> str:
    """The furthest stage an invitation annotated by ``with_stages`` reached."""
    if invitation.works:
        return "works"
    if invitation.verified:
        return "verified"
    if invitation.submitted:
        return "submitted"
    if invitation.opened_at:
        return "opened"
    return "invited" if invitation.invited_at else "scheduled"


@dataclass(frozen=True)
class FunnelStage:
    key: str
    label: str
    count: int
    percent: int


def funnel(campaign: Campaign, now: datetime.datetime | None = None) -> list[FunnelStage]:
    """How many institutions reached each stage or a later one (a submission made without the
    email's link still counts as opened)."""
    reached = dict.fromkeys(STAGES[1:], 0)
    invitations = list(campaign.invitations.with_stages(now))
    for invitation in invitations:
        for stage in STAGES[1 : STAGES.index(stage_of(invitation)) + 1]:
            reached[stage] += 1
    total = len(invitations) or 1
    return [FunnelStage(key, STAGE_LABELS[key], count, round(100 * count / total)) for key, count in reached.items()]
