"""Onboarding many institutions: CSV imports, and campaigns that invite and chase their admins."""

import datetime
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from keys import kinds
from keys.models.credentials import Credential
from keys.models.institutions import AdminContact, Institution
from keys.models.outbox import OutboxMessage


class InstitutionImport(models.Model):
    """An uploaded institutions file between its preview and its confirmation. The file is kept
    here (it holds names and admin addresses, nothing secret) so the confirmation applies exactly
    what was previewed, once."""

    filename = models.CharField(max_length=255, blank=True)
    content = models.TextField()
    uploaded_by = models.CharField(max_length=200)
    uploaded_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.filename or 'institutions file'} uploaded by {self.uploaded_by}"


def campaign_chase_after_days() -> int:
    return settings.PORTAL_CAMPAIGN_CHASE_AFTER_DAYS


def campaign_max_chasers() -> int:
    return settings.PORTAL_CAMPAIGN_MAX_CHASERS


class Campaign(models.Model):
    """An invitation campaign: one kind of key asked of many institutions, with chasers."""

    # A hard ceiling on chasers, whatever a form or the environment asks for: beyond this it is spam.
    MAX_CHASERS_LIMIT = 5

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=kinds.CHOICES)
    chase_after_days = models.PositiveSmallIntegerField(
        default=campaign_chase_after_days,
        help_text="Days after the previous email before a chaser goes to those who have not handed over.",
    )
    max_chasers = models.PositiveSmallIntegerField(
        default=campaign_max_chasers, help_text="Chasers at most, after the invitation."
    )
    created_by = models.CharField(max_length=200, help_text="A staff username, or cli:<user> for the invite command.")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_spec(self) -> kinds.Kind:
        return kinds.get(self.kind)


def new_invitation_token() -> str:
    return secrets.token_urlsafe(12)


class CampaignInvitationQuerySet(models.QuerySet):
    def with_stages(self, now: datetime.datetime | None = None):
        """Annotate each invitation with the furthest stage it reached: submitted, verified, works.

        Read from the institution's credentials of the campaign's kind since the campaign began,
        so the funnel cannot drift from what really happened. A submission that locked (wrong
        codes, the window ran out) does not count: that institution still has to hand a key over.
        A partner key awaiting its secret counts whenever it was verified: the customer is done.
        """
        now = now or timezone.now()
        since = {
            "institution": models.OuterRef("institution"),
            "kind": models.OuterRef("kind"),
        }
        since["submitted_at__gte"] = models.OuterRef("campaign__created_at")
        waiting = Credential.objects.awaiting_partner_secret(now).filter(
            institution=models.OuterRef("institution"), kind=models.OuterRef("kind")
        )
        ours = Credential.objects.filter(**since) | waiting
        return self.annotate(
            submitted=models.Exists(ours.exclude(status=Credential.Status.LOCKED)),
            verified=models.Exists(ours.filter(verified_at__isnull=False)),
            works=models.Exists(Credential.objects.confirmed_working(now).filter(**since)),
        )

    def not_responded(self, now: datetime.datetime | None = None):
        return self.with_stages(now).filter(submitted=False)


class CampaignInvitation(models.Model):
    """One institution in one campaign. Its stage after "opened" is read from its credentials."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="campaign_invitations")
    kind = models.CharField(
        max_length=32, choices=kinds.CHOICES, help_text="The campaign's kind, kept here for the constraint."
    )
    is_open = models.BooleanField(
        default=True, help_text="Still being chased; closed once a key is verified or the chasers ran out."
    )
    token = models.CharField(
        max_length=32,
        unique=True,
        default=new_invitation_token,
        editable=False,
        help_text=(
            "Added to the intake link in the emails, so a visit from them counts as opened. "
            "Not a key: the intake link is."
        ),
    )
    invited_at = models.DateTimeField(null=True, blank=True, help_text="When the first invitation email went out.")
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="When the intake page was first loaded from an email's link."
    )
    chasers_planned = models.PositiveSmallIntegerField(default=0)
    next_chase_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)

    objects = CampaignInvitationQuerySet.as_manager()

    class Meta:
        ordering = ["institution__name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "institution"], name="one_invitation_per_campaign"),
            # Two campaigns started at once (two `invite` commands, two staff members) cannot both
            # take an institution: the second insert of the pair is refused by the database.
            models.UniqueConstraint(
                fields=["institution", "kind"], condition=models.Q(is_open=True), name="one_open_invitation_per_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["next_chase_at"], condition=models.Q(is_open=True), name="invitation_chase_due"),
        ]

    def __str__(self) -> str:
        return f"{self.institution} in {self.campaign}"

    def intake_url(self) -> str:
        return self.institution.intake_url(self.kind) + f"?via={self.token}"

    @classmethod
    def record_open(cls, token: str, institution: Institution, now: datetime.datetime) -> bool:
        """The intake page was loaded from an email's link. Only the first visit is recorded."""
        first_visit = cls.objects.filter(token=token, institution=institution, opened_at__isnull=True)
        return bool(first_visit.update(opened_at=now))


class CampaignMessage(OutboxMessage):
    """One campaign email to one contact: the outbox row and, once sent, its record.

    Unique per (invitation, address, round): round 0 is the invitation, 1.. the chasers. A sent
    message holds one of its address's daily slots (unique per address, day and slot number), so
    the per-contact limit holds however many sweeps send at once. keys/onboarding/campaign_emails.py
    sends it through the outbox (keys/outbox.py).
    """

    invitation = models.ForeignKey(
        CampaignInvitation, on_delete=models.CASCADE, related_name="messages", help_text="The institution it asks."
    )
    contact = models.ForeignKey(
        AdminContact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign_messages",
        help_text="The contact on file it goes to; empty once they are removed (then it is cancelled).",
    )
    email = models.EmailField(help_text="The contact's address when the message was planned.")
    round = models.PositiveSmallIntegerField(help_text="0 is the invitation, 1 and up the chasers.")
    send_day = models.DateField(
        null=True, blank=True, help_text="The day whose per-address limit the message counts against."
    )
    send_slot = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Which of the address's daily slots it holds (taken right before sending)."
    )

    class Meta:
        ordering = ["not_before"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "email", "round"], name="one_message_per_round"),
            models.UniqueConstraint(fields=["email", "send_day", "send_slot"], name="campaign_daily_slot"),
        ]
        indexes = [
            models.Index(fields=["not_before"], condition=models.Q(state="scheduled"), name="campaign_message_due"),
        ]

    def __str__(self) -> str:
        return "invitation" if self.round == 0 else f"chaser {self.round}"

    @property
    def is_chaser(self) -> bool:
        return self.round > 0
