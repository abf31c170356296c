"""Invitation campaigns: ask many institutions for one kind of key, follow who responds, chase the rest.

Guarantees, and where they come from (the database, not timing):
- An institution is in at most one open campaign per kind: a conditional unique constraint. Two
  campaigns started at once (two `invite` commands, two staff members) split the institutions
  between them; neither invites one the other took.
- Each email is a row, unique per (invitation, address, round), sent through the outbox
  (keys/outbox.py): at most once however many sweeps run, none lost when a worker dies.
  What differs (the daily limit per address, stopping the moment a key is verified) is in
  keys/onboarding/campaign_emails.py.
- Each chaser round is planned once: the round counter moves by a conditional UPDATE, and the
  rows of a round are unique besides.
- An institution whose verified partner key awaits its secret (Instructure sends it to the
  partner) is done: never invited, never chased.
"""

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from keys import audit, kinds
from keys.models import AdminContact, Campaign, CampaignInvitation, CampaignMessage, Credential, Institution
from keys.onboarding import campaign_emails

log = logging.getLogger(__name__)
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


# Sending (keys/onboarding/campaign_emails.py) ---------------------------------------------------


def sweep(
    *, campaign: Campaign | None = None, batch_size: int = 100, time_budget: float = 60.0
) -> campaign_emails.CampaignReport:
    """Plan due chasers, then send every campaign email that is due. Safe to run anywhere, at once.

    With a campaign, only that campaign's emails are sent (the `invite` command), and chasers are
    left to the scheduled sweep.
    """
    report = campaign_emails.CampaignReport()
    if campaign is None:
        report.planned_chasers = plan_chasers(timezone.now())
    return campaign_emails.send(campaign=campaign, batch_size=batch_size, time_budget=time_budget, report=report)


# Chasing ----------------------------------------------------------------------------------------


def plan_chasers(now: datetime.datetime, limit: int = 1000) -> int:
    """For each invitation whose chase time has come: close it if a key was verified or the
    chasers ran out, wait if a submission is awaiting its code, else plan the next round."""
    due = (
        CampaignInvitation.objects.filter(is_open=True, next_chase_at__lte=now)
        .with_stages(now)
        .select_related("campaign")
        .order_by("next_chase_at")[:limit]
    )
    planned = 0
    for invitation in due:
        campaign = invitation.campaign
        later = now + datetime.timedelta(days=campaign.chase_after_days)
        if invitation.verified:
            close(invitation, now, "A key was verified.")
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
