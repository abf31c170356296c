from django.db import models
from django.db.models import Q


class Alert(models.Model):
    """One episode of a problem operators are emailed about: raised once, cleared when it is over.

    At most one open episode per kind (a unique constraint), so several web nodes noticing the
    same stopped scheduler send one email between them.
    """

    class Kind(models.TextChoices):
        SCHEDULER_STALE = "scheduler-stale", "Scheduler stopped"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    raised_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(cleared_at__isnull=True), name="one_open_alert_per_kind"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} since {self.raised_at:%Y-%m-%d %H:%M}"


class ErrorMail(models.Model):
    """When ADMINS last heard of one kind of error, and how many of its kind were not mailed since
    (portal/error_mail.py): a burst of one error is one email, with a count, not one email each."""

    kind = models.CharField(max_length=64, unique=True, help_text="A digest of the logger, exception and message.")
    sent_at = models.DateTimeField()
    suppressed = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"error mail {self.kind[:12]} at {self.sent_at:%Y-%m-%d %H:%M}"
