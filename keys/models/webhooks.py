"""Webhook endpoints: where pipelines want to be told of events, and the secret each delivery is
signed with. Their deliveries and how they are sent: keys/pipelines/webhooks.py."""

import base64
import secrets

from django.db import models
from django.utils import timezone

from keys.models.outbox import OutboxMessage
from keys.models.pipelines import PipelineEvent
from keys.sealing import Sealed, SealedSecretField

SECRET_PREFIX = "whsec_"


class WebhookEndpoint(models.Model):
    """An https address that receives the events it asks for, each POST signed with its own secret."""

    url = models.URLField(max_length=500, help_text="https only; the same outbound rules as Canvas checks.")
    events = models.JSONField(default=list, help_text="The event types it receives.")
    description = models.CharField(max_length=200, blank=True)
    secret = SealedSecretField(help_text="The signing secret (whsec_…), sealed; shown once, when it is made.")
    created_by = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Events after this one are this endpoint's to deliver: an endpoint hears what happens after it is added.
    planned_through = models.BigIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The first failed delivery since the last one it accepted."
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    @staticmethod
    def new_secret() -> str:
        # Standard Webhooks: whsec_ and base64 of the key; 24 random bytes, as its own libraries make.
        return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()

    def set_secret(self, plaintext: str) -> None:
        self.secret = Sealed.seal(plaintext)

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class WebhookDelivery(OutboxMessage):
    """One event owed to one endpoint: an outbox row (keys/outbox.py), sent by keys/pipelines/webhooks.py.
    (endpoint, event) is unique: racing planners cannot owe an endpoint an event twice."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(PipelineEvent, on_delete=models.PROTECT, related_name="deliveries")
    response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The HTTP status of the endpoint's last answer."
    )

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["state", "not_before"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event.type} to {self.endpoint}"

    @property
    def message_id(self) -> str:
        """webhook-id: the same on every attempt, so a receiver can recognise a repeat."""
        return f"kd_{self.event_id}_{self.endpoint_id}"


EVENT_TYPES = [value for value, _ in PipelineEvent.Type.choices]
