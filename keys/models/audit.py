"""The audit trail: append-only events of every privileged action, sign-in and lockout."""

from django.db import models
from django.utils import timezone

from keys.models.credentials import Credential
from keys.models.institutions import Institution


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Who did what to which credential, when, why and from where. Append-only; never a secret."""

    class Action(models.TextChoices):
        REVEAL = "reveal", "Secret revealed"
        EXPORT = "export", "Credential exported"
        REVOKE = "revoke", "Credential revoked"
        COMPLETE = "complete", "Partner secret entered"
        ROTATE_LINK = "rotate_link", "Intake link rotated"
        INVITE = "invite", "Intake link emailed"
        VERIFIED = "verified", "Submission verified"
        LOCKED = "locked", "Submission locked"
        CSV_EXPORT = "csv_export", "Credential list exported"
        IMPORT = "import", "Institutions imported"
        CAMPAIGN = "campaign", "Invitation campaign started"
        EXPORT_LIST = "export_list", "List exported"
        # Staff sign-in and the accounts behind it
        SIGN_IN = "sign_in", "Signed in"
        SIGN_OUT = "sign_out", "Signed out"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_IN_LOCKED = "sign_in_locked", "Sign-in locked or slowed"
        SIGN_IN_UNLOCKED = "sign_in_unlocked", "Sign-in lock lifted"
        SECOND_FACTOR = "second_factor", "Second factor checked"
        SECOND_FACTOR_ENROLLED = "second_factor_enrolled", "Two-step verification set up"
        RECOVERY_CODES = "recovery_codes", "Recovery codes replaced"
        SECOND_FACTOR_RESET = "second_factor_reset", "Two-step verification reset"
        ENROLMENT_LINK = "enrolment_link", "Two-step set-up link emailed or opened"
        STAFF_CHANGED = "staff_changed", "Staff account changed"
        GROUP_CHANGED = "group_changed", "Staff group changed"
        # Institutions and the intake's limits
        INSTITUTION_CHANGED = "institution_changed", "Institution changed"
        INSTITUTION_DELETED = "institution_deleted", "Institution deleted"
        CONTACTS_CHANGED = "contacts_changed", "Admin contacts changed"
        LIMIT_LIFTED = "limit_lifted", "Hourly limits lifted"
        # The admin's OAuth grant of a developer key
        AUTHORIZED = "authorized", "Access granted in Canvas"
        AUTHORIZATION_EMAILED = "authorization_emailed", "Authorization link emailed"
        ACCESS_TOKEN_EXPORT = "access_token_export", "Access token exported"
        GRANT_REVOKED = "grant_revoked", "Access revoked in Canvas"
        # One key, one institution
        SHARED_KEY_CONFIRMED = "shared_key_confirmed", "Customer confirmed a shared key"
        CONSORTIUM_MARKED = "consortium_marked", "Marked as a key a consortium shares"
        # Pipelines: their tokens, each use of the API (actor pipeline:NAME), and webhook endpoints
        PIPELINE_TOKEN = "pipeline_token", "Pipeline token created or revoked"
        PIPELINE_API = "pipeline_api", "Pipeline API used"
        WEBHOOK_ENDPOINT = "webhook_endpoint", "Webhook endpoint changed"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200, help_text="A staff username, cli:<user>, or the customer contact.")
    action = models.CharField(max_length=32, choices=Action.choices)
    institution = models.ForeignKey(
        Institution, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")
