"""The pending-verification state of a submission, under Instructure's verified-key-release rules.

The rules and their numbers are in intake/rules.py; this model applies them to one row. After
the window or the last wrong entry the submission is locked and its secret destroyed.

Every counter changes through a conditional UPDATE, so concurrent requests cannot take more
attempts, re-sends or successes than the rules allow, on SQLite as on PostgreSQL.
"""

import datetime
import re
import secrets
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from intake import rules
from keys import audit
from keys.models import AdminContact, Credential
from keys.sealing import SealedSecretField

# Exactly CODE_DIGITS ASCII digits. Not \d, int() or a number field: those take "١٢٣٤٥٦" and "１２３４５６".
CODE_PATTERN = re.compile(rf"[0-9]{{{rules.CODE_DIGITS}}}", re.ASCII)


def new_public_id() -> str:
    return secrets.token_urlsafe(18)


def normalise_code(raw: str) -> str | None:
    """The code as CODE_DIGITS ASCII digits, tolerating the spaces and dashes people type; else None."""
    code = re.sub(r"[\s-]", "", raw or "")
    return code if CODE_PATTERN.fullmatch(code) else None


@dataclass(frozen=True)
class Outcome:
    verified: bool  # this call verified the submission (of ten racing right codes, one does)
    locked: bool


WAITING = Q(verified_at__isnull=True, locked_at__isnull=True)  # neither verified nor locked


class VerificationQuerySet(models.QuerySet):
    def waiting(self):
        return self.filter(WAITING)

    def open(self, now: datetime.datetime):
        """Waiting, and inside the window at `now`: the only rows a code or an attempt may change."""
        return self.waiting().filter(rules.in_window(now))

    def stale(self, now: datetime.datetime):
        """Waiting, with the window run out: to be locked."""
        return self.waiting().exclude(rules.in_window(now))

    def may_send_code(self):
        return self.filter(rules.CODES.allows())

    def has_attempts_left(self):
        return self.filter(rules.WRONG_ENTRIES.allows())


class Verification(models.Model):
    class LockReason(models.TextChoices):
        WINDOW = "window", "Verification window ran out"
        ATTEMPTS = "attempts", "Too many wrong codes"

    credential = models.OneToOneField(Credential, on_delete=models.CASCADE, related_name="verification")
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    # One per rendered form: replaying the same POST finds it taken and stores nothing.
    form_nonce = models.CharField(max_length=64, unique=True)
    contact = models.ForeignKey(AdminContact, on_delete=models.PROTECT, related_name="verifications")
    submitter_ip = models.GenericIPAddressField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    code_hash = models.CharField(max_length=64, blank=True)
    code_sent_at = models.DateTimeField(null=True, blank=True)
    codes_sent = models.PositiveSmallIntegerField(default=0)
    wrong_attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    lock_reason = models.CharField(max_length=16, blank=True, choices=LockReason.choices)

    objects = VerificationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["started_at"], condition=WAITING, name="verification_open")]

    def __str__(self) -> str:
        # Never the code or the secret: the public id and the masked address the code went to.
        return f"Verification {self.public_id} ({self.contact.masked_email})"

    # Questions -----------------------------------------------------------------------------

    @property
    def deadline(self) -> datetime.datetime:
        return rules.deadline(self.started_at)

    @property
    def code_expires_at(self) -> datetime.datetime | None:
        return rules.code_expires_at(self.code_sent_at, self.started_at) if self.code_sent_at else None

    @property
    def may_send_code(self) -> bool:
        return rules.CODES.left(self.codes_sent) > 0

    @property
    def resends_left(self) -> int:
        return rules.resends_left(self.codes_sent)

    @property
    def attempts_left(self) -> int:
        return rules.WRONG_ENTRIES.left(self.wrong_attempts)

    @property
    def is_waiting(self) -> bool:
        return self.verified_at is None and self.locked_at is None

    def window_closed(self, now: datetime.datetime) -> bool:
        return now >= self.deadline

    def _hash(self, code: str) -> str:
        return salted_hmac(
            "keydrop.intake.verification-code", f"{self.public_id}:{code}", algorithm="sha256"
        ).hexdigest()

    # Changes -------------------------------------------------------------------------------

    def _open_row(self, now: datetime.datetime):
        return Verification.objects.filter(pk=self.pk).open(now)

    @staticmethod
    def _new_code() -> str:
        return f"{secrets.randbelow(10**rules.CODE_DIGITS):0{rules.CODE_DIGITS}d}"

    def first_code(self, now: datetime.datetime) -> str:
        """The first code of a submission not yet saved: stored with the row, so no second write."""
        code = self._new_code()
        self.code_hash, self.code_sent_at, self.codes_sent = self._hash(code), now, 1
        return code

    def issue_code(self, now: datetime.datetime) -> str | None:
        """Make a new code, voiding the previous one. None if the re-sends are used up or it is closed."""
        code = self._new_code()
        claimed = (
            self._open_row(now)
            .may_send_code()
            .update(code_hash=self._hash(code), code_sent_at=now, codes_sent=F("codes_sent") + 1)
        )
        if not claimed:
            return None
        self.refresh_from_db(fields=["code_hash", "code_sent_at", "codes_sent"])
        return code

    def withdraw_code(self) -> None:
        """The email with the code could not be sent: void it and give the re-send back."""
        Verification.objects.filter(pk=self.pk, codes_sent__gt=0, verified_at__isnull=True).update(
            code_hash="", codes_sent=F("codes_sent") - 1
        )
        self.refresh_from_db(fields=["code_hash", "codes_sent"])

    def check_code(self, code: str, now: datetime.datetime) -> Outcome:
        """Try a code. Wrong, expired and locked all give the same answer to the visitor."""
        if self.lock_if_stale(now):
            return Outcome(verified=False, locked=True)
        expected = self.code_hash
        code_alive = bool(expected) and self.code_expires_at is not None and now < self.code_expires_at
        if code_alive and CODE_PATTERN.fullmatch(code) and constant_time_compare(self._hash(code), expected):
            with transaction.atomic():
                won = self._open_row(now).has_attempts_left().filter(code_hash=expected).update(verified_at=now)
                if won:
                    self.verified_at = now  # what the UPDATE wrote; the loaded key and contact stay loaded
                    self.credential.activate(now, self.contact.email)
                    audit.record(
                        audit.Action.VERIFIED, actor=self.contact.masked_email, credential=self.credential, at=now
                    )
                    return Outcome(verified=True, locked=False)
        else:
            counted = self._open_row(now).has_attempts_left().update(wrong_attempts=F("wrong_attempts") + 1)
            if counted:
                self.refresh_from_db(fields=["wrong_attempts"])
                if not self.attempts_left:
                    self.lock(now, self.LockReason.ATTEMPTS)
        self.refresh_from_db()
        return Outcome(verified=False, locked=self.locked_at is not None)

    def lock_if_stale(self, now: datetime.datetime) -> bool:
        """Lock on access once the window has run out. True if the submission is locked."""
        if self.locked_at:
            return True
        if self.verified_at is None and self.window_closed(now):
            self.lock(now, self.LockReason.WINDOW)
            self.refresh_from_db()
        return self.locked_at is not None

    @transaction.atomic
    def lock(self, now: datetime.datetime, reason: str) -> bool:
        """Lock for good and destroy the secret. Only one caller wins; True for that one."""
        locked = (
            Verification.objects.filter(pk=self.pk).waiting().update(locked_at=now, lock_reason=reason, code_hash="")
        )
        if locked:
            self.credential.lock(now)
            audit.record(
                audit.Action.LOCKED,
                actor=self.contact.masked_email,
                credential=self.credential,
                at=now,
                detail=self.LockReason(reason).label,
            )
        return bool(locked)


class HeldSecret(models.Model):
    """A secret pasted into a form that came back for another error, sealed for a few minutes so the
    customer need not paste it again (intake/held_secrets.py). Keyed by a digest of the form's nonce,
    destroyed on use or expiry; never in the page, a log or the session."""

    nonce_digest = models.CharField(max_length=64, unique=True)
    secret = SealedSecretField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"Held secret until {self.expires_at:%Y-%m-%d %H:%M}"
