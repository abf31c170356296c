"""What a live check concludes: exactly three words, each with a human reason beside it.

A rejection is either the key's own fault (an unknown id, a wrong secret: nothing in Canvas can
make it work, so its secret is destroyed at hand-over) or **fixable in Canvas** (the key is Off,
misses scopes or our redirect URI, answers for another account): the admin changes a setting and
the same secret works, so the key is kept sealed and checked again. Only the answers the reference
lists as certain produce either; everything else is inconclusive.
"""

from dataclasses import dataclass, field

from django.db import models


class Outcome(models.TextChoices):
    WORKS = "works", "works"
    REJECTED = "rejected", "rejected"  # Canvas refused the credential: people must fix something
    INCONCLUSIVE = "inconclusive", "inconclusive"  # no answer worth acting on: try again, never alarm


@dataclass(frozen=True)
class Verdict:
    """One check's conclusion. ``reason`` is written for a Canvas admin and goes into records,
    emails and command output, so it never holds a secret, a token or a response body."""

    outcome: str
    reason: str
    facts: dict = field(default_factory=dict)  # e.g. {"region": "us-east-1"}; never a secret
    http_status: int | None = None
    fixable: bool = False  # rejected, but a setting in Canvas mends it: the secret is kept

    @classmethod
    def works(cls, reason: str, **kwargs) -> "Verdict":
        return cls(Outcome.WORKS, reason, **kwargs)

    @classmethod
    def rejected(cls, reason: str, **kwargs) -> "Verdict":
        return cls(Outcome.REJECTED, reason, **kwargs)

    @classmethod
    def needs_fix(cls, reason: str, **kwargs) -> "Verdict":
        """Canvas refused for a reason the admin fixes in Canvas, without a new secret."""
        return cls(Outcome.REJECTED, reason, fixable=True, **kwargs)

    @classmethod
    def inconclusive(cls, reason: str, **kwargs) -> "Verdict":
        return cls(Outcome.INCONCLUSIVE, reason, **kwargs)

    @property
    def is_works(self) -> bool:
        return self.outcome == Outcome.WORKS

    @property
    def is_rejected(self) -> bool:
        return self.outcome == Outcome.REJECTED

    @property
    def destroys_key(self) -> bool:
        """The key itself is wrong (unknown id, wrong secret): nothing in Canvas can mend it."""
        return self.is_rejected and not self.fixable

    @property
    def is_inconclusive(self) -> bool:
        return self.outcome == Outcome.INCONCLUSIVE
