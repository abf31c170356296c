"""Keydrop's models, one module per concern; import them from here (``from keys.models import Credential``).

- institutions: Institution, AdminContact: who is on file to confirm a hand-over.
- credentials: Credential, the key and its life in statuses (credential_queries: its QuerySet).
- outbox: OutboxMessage, the abstract outbox row (shared fields, one state vocabulary) that
  ReminderNotice, CheckAlert and CampaignMessage inherit; keys/outbox.py sends them.
- reminders: ReminderNotice, one outbox row per credential and offset; CalendarFeed.
- checks: CredentialCheck (each live check), CheckAlert (the outbox of check alerts), HostCheckBudget.
- grants: CanvasGrant (the admin's OAuth grant), AuthorizationRequest (one start of the dance).
- audit: AuditEvent, append-only.
- onboarding: InstitutionImport, Campaign, CampaignInvitation, CampaignMessage.
- limits: LimitSlot, the hourly limits' slots.
- pipelines: PipelineToken, PipelineEvent, DapAccessToken (the pipeline API).
- webhooks: WebhookEndpoint, WebhookDelivery (an outbox row per endpoint and event).

"""

from keys.models.audit import AuditEvent, AuditEventQuerySet
from keys.models.checks import CheckAlert, CredentialCheck, HostCheckBudget
from keys.models.credential_queries import CredentialQuerySet
from keys.models.credentials import Credential, LastCheck
from keys.models.grants import AuthorizationRequest, CanvasGrant, CanvasGrantQuerySet
from keys.models.institutions import AdminContact, Institution, mask_email, new_intake_token, validate_time_zone
from keys.models.limits import LimitSlot
from keys.models.onboarding import (
    Campaign,
    CampaignInvitation,
    CampaignMessage,
    InstitutionImport,
    campaign_chase_after_days,
    campaign_max_chasers,
    new_invitation_token,
)
from keys.models.outbox import OutboxMessage, OutboxMessageQuerySet
from keys.models.pipelines import DapAccessToken, PipelineEvent, PipelineToken
from keys.models.reminders import CalendarFeed, ReminderNotice, new_feed_token
from keys.models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AdminContact",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuthorizationRequest",
    "CalendarFeed",
    "Campaign",
    "CampaignInvitation",
    "CampaignMessage",
    "CanvasGrant",
    "CanvasGrantQuerySet",
    "CheckAlert",
    "Credential",
    "CredentialCheck",
    "CredentialQuerySet",
    "DapAccessToken",
    "HostCheckBudget",
    "Institution",
    "InstitutionImport",
    "LastCheck",
    "LimitSlot",
    "PipelineEvent",
    "PipelineToken",
    "OutboxMessage",
    "OutboxMessageQuerySet",
    "ReminderNotice",
    "WebhookDelivery",
    "WebhookEndpoint",
    "campaign_chase_after_days",
    "campaign_max_chasers",
    "mask_email",
    "new_feed_token",
    "new_intake_token",
    "new_invitation_token",
    "validate_time_zone",
]
