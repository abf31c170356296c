"""What a live check concludes: exactly three words, each with a human reason beside it."""

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

    @classmethod
    def works(cls, reason: str, **kwargs) -> "Verdict":
        return cls(Outcome.WORKS, reason, **kwargs)

    @classmethod
    def rejected(cls, reason: str, **kwargs) -> "Verdict":
        return cls(Outcome.REJECTED, reason, **kwargs)

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
    def is_inconclusive(self) -> bool:
        return self.outcome == Outcome.INCONCLUSIVE
