"""The pending-verification state of a submission, under Instructure's verified-key-release rules.

Rules (settings, with Instructure's values as defaults): a six-digit code valid 5 minutes,
at most 3 re-sends, 5 wrong entries in total, 15 minutes from submission to verification;
after the window or the 5th wrong entry the submission is locked and its secret destroyed.

Every counter changes through a conditional UPDATE, so concurrent requests cannot take more
attempts, re-sends or successes than the rules allow, on SQLite as on PostgreSQL.
"""

import datetime
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from keys import audit
from keys.models import AdminContact, Credential

# Exactly six ASCII digits. Not \d, int() or a number field: those accept "١٢٣٤٥٦" and "１２３４５６".
CODE_PATTERN = re.compile(r"[0-9]{6}", re.ASCII)


def new_public_id() -> str:
    return secrets.token_urlsafe(18)


def normalise_code(raw: str) -> str | None:
    """The code as six ASCII digits, tolerating the spaces and dashes people type; else None."""
    code = re.sub(r"[\s-]", "", raw or "")
    return code if CODE_PATTERN.fullmatch(code) else None


@dataclass(frozen=True)
class Outcome:
    verified: bool  # this call verified the submission (of ten racing right codes, one does)
    locked: bool


class VerificationQuerySet(models.QuerySet):
    def stale(self, now: datetime.datetime):
        return self.filter(verified_at__isnull=True, locked_at__isnull=True, started_at__lte=now - settings.PORTAL_VERIFICATION_WINDOW)


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
        indexes = [models.Index(fields=["started_at"], condition=Q(verified_at__isnull=True, locked_at__isnull=True), name="verification_open")]

    # Questions -----------------------------------------------------------------------------

    @property
    def deadline(self) -> datetime.datetime:
        return self.started_at + settings.PORTAL_VERIFICATION_WINDOW

    @property
    def code_expires_at(self) -> datetime.datetime | None:
        # A re-send gives the code five minutes, never more time than the window has left.
        if not self.code_sent_at:
            return None
        return min(self.code_sent_at + settings.PORTAL_CODE_LIFETIME, self.deadline)

    @property
    def resends_left(self) -> int:
        return max(0, settings.PORTAL_CODE_MAX_RESENDS - max(0, self.codes_sent - 1))

    @property
    def is_open(self) -> bool:
        return self.verified_at is None and self.locked_at is None

    def window_closed(self, now: datetime.datetime) -> bool:
        return now >= self.deadline

    def _hash(self, code: str) -> str:
        return salted_hmac("keydrop.intake.verification-code", f"{self.public_id}:{code}", algorithm="sha256").hexdigest()

    # Changes -------------------------------------------------------------------------------

    def _open_rows(self, now: datetime.datetime):
        return Verification.objects.filter(pk=self.pk, verified_at__isnull=True, locked_at__isnull=True, started_at__gt=now - settings.PORTAL_VERIFICATION_WINDOW)

    def issue_code(self, now: datetime.datetime) -> str | None:
        """Make a new code, voiding the previous one. None if the re-sends are used up or it is closed.

        The first code and up to PORTAL_CODE_MAX_RESENDS more: 1 + 3 in Instructure's rules.
        """
        code = f"{secrets.randbelow(10**6):06d}"
        claimed = self._open_rows(now).filter(codes_sent__lte=settings.PORTAL_CODE_MAX_RESENDS).update(
            code_hash=self._hash(code), code_sent_at=now, codes_sent=F("codes_sent") + 1
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
                won = self._open_rows(now).filter(
                    code_hash=expected, wrong_attempts__lt=settings.PORTAL_CODE_MAX_ATTEMPTS
                ).update(verified_at=now)
                if won:
                    self.refresh_from_db()
                    self.credential.activate(now, self.contact.email)
                    audit.record(audit.Action.VERIFIED, actor=self.contact.masked_email, credential=self.credential, at=now)
                    return Outcome(verified=True, locked=False)
        else:
            counted = self._open_rows(now).filter(wrong_attempts__lt=settings.PORTAL_CODE_MAX_ATTEMPTS).update(
                wrong_attempts=F("wrong_attempts") + 1
            )
            if counted:
                self.refresh_from_db(fields=["wrong_attempts"])
                if self.wrong_attempts >= settings.PORTAL_CODE_MAX_ATTEMPTS:
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
        locked = Verification.objects.filter(pk=self.pk, verified_at__isnull=True, locked_at__isnull=True).update(
            locked_at=now, lock_reason=reason, code_hash=""
        )
        if locked:
            self.credential.lock(now)
            audit.record(
                audit.Action.LOCKED, actor=self.contact.masked_email, credential=self.credential, at=now,
                detail=self.LockReason(reason).label,
            )
        return bool(locked)
