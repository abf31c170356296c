"""Hourly-limit slots (keys/limits.py): at most N uses of a scope in any rolling hour."""

from django.db import models


class LimitSlot(models.Model):
    """One of the N places in an hourly limit (see keys/limits.py): taken when used, free an hour later."""

    scope = models.CharField(
        max_length=80, help_text="What is limited: link:<institution>, contact:<contact>, address:<ip>."
    )
    number = models.PositiveIntegerField()  # a partner may raise a limit past a small integer's range
    taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "number"], name="one_slot_per_number")]
        # A take finds a free slot, and a refusal its oldest use, without reading the scope's slots.
        indexes = [models.Index(fields=["scope", "taken_at"], name="limit_slot_by_age")]

    def __str__(self) -> str:
        return f"{self.scope} #{self.number}"
