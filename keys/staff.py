"""What partner staff (and the pipeline command) do with credentials and institutions.

Each action and its audit event happen together: a secret is decrypted only after the event
that records the access has been written, in the same transaction, so a failed write means
nothing is shown.
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, live_checks
from keys.models import Credential, CredentialCheck, Institution
from portal import emails
from portal.client import client_ip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acts, as the audit trail names them, and from which address."""

    name: str
    ip: str | None = None

    @classmethod
    def from_request(cls, request) -> "Actor":
        return cls(audit.staff_actor(request), client_ip(request))

    @classmethod
    def cli(cls) -> "Actor":
        return cls(audit.cli_actor())


class NotAvailable(Exception):
    """The credential is in no state for this action; the message says why, for staff."""


class AuditUnavailable(Exception):
    """The audit event could not be written, so the secret was not opened."""


@sensitive_variables("secret")
def open_secret(credential: Credential, *, action: str, actor: Actor, now: datetime.datetime, reason: str = "", detail: str = "") -> str:
    """Record the access, then decrypt. Only verified, usable credentials are ever opened."""
    if not credential.is_usable(now):
        raise NotAvailable(
            "Only a verified credential that still works can be revealed or exported; "
            f"this one is {credential.get_status_display().lower()}"
            + (" and past its expiry." if credential.expires_at and credential.expires_at <= now else ".")
        )
    with transaction.atomic():
        try:
            audit.record(action, actor=actor.name, credential=credential, reason=reason, ip=actor.ip, detail=detail, at=now)
        except Exception as exc:  # whatever stopped the write, the rule is the same: no record, no secret
            log.error("audit event for credential %s could not be written: %s", credential.pk, type(exc).__name__)
            raise AuditUnavailable from exc
        secret = credential.secret.reveal()  # SecretUnreadable rolls the event back: nothing was disclosed
    return secret


def reveal(credential: Credential, *, actor: Actor, reason: str, now: datetime.datetime) -> str:
    return open_secret(credential, action=audit.Action.REVEAL, actor=actor, reason=reason, now=now)


def revoke(credentials, *, actor: Actor, reason: str, now: datetime.datetime) -> list[Credential]:
    """Revoke each credential that can be; returns those this call revoked."""
    revoked = []
    for credential in credentials:
        with transaction.atomic():
            if credential.revoke(now):
                audit.record(audit.Action.REVOKE, actor=actor.name, credential=credential, reason=reason, ip=actor.ip, at=now, detail="secret purged")
                revoked.append(credential)
    return revoked


class SecretRejected(Exception):
    """Canvas refused the secret: nothing was stored. The message is Canvas's answer, in words."""


@sensitive_variables("plaintext")
def complete_partner_secret(credential: Credential, plaintext: str, *, actor: Actor, now: datetime.datetime) -> bool:
    """Store the secret Instructure sent for a partner key; the key becomes the working one.

    Canvas is asked first: a secret it refuses is not stored (SecretRejected), so a typo costs
    nothing. An unclear answer stores it and the key is checked again shortly, as at hand-over.
    """
    verdict = live_checks.try_partner_secret(credential, plaintext)
    if verdict.is_rejected:
        live_checks.record(credential, verdict, trigger=CredentialCheck.Trigger.PARTNER_SECRET, now=now)
        raise SecretRejected(verdict.reason)
    with transaction.atomic():
        if not credential.complete_partner_secret(plaintext, now):
            return False
        audit.record(audit.Action.COMPLETE, actor=actor.name, credential=credential, ip=actor.ip, at=now, detail="partner secret entered; now active")
        live_checks.record(credential, verdict, trigger=CredentialCheck.Trigger.PARTNER_SECRET, now=now)
    return True


def rotate_intake_link(institution: Institution, *, actor: Actor, now: datetime.datetime) -> None:
    with transaction.atomic():
        institution.rotate_intake_token(now)
        audit.record(audit.Action.ROTATE_LINK, actor=actor.name, institution=institution, ip=actor.ip, at=now, detail="the previous intake link stopped working")


@dataclass
class Invitation:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def invite_contacts(institution: Institution, *, actor: Actor, now: datetime.datetime) -> Invitation:
    """Email the intake link to each contact on file, one message each (no one sees the others)."""
    result = Invitation()
    context = {
        "institution": institution,
        "links": [(kind, institution.intake_url(kind.slug)) for kind in kinds.KINDS.values()],
    }
    for contact in institution.contacts.all():
        try:
            emails.send("invitation", [contact.email], {**context, "contact": contact})
        except Exception as exc:  # SMTP and socket errors alike: report, and go on with the others
            log.warning("invitation to a contact of %s failed: %s", institution.slug, type(exc).__name__)
            result.failed.append(contact.email)
        else:
            result.sent.append(contact.email)
    if result.sent:
        audit.record(audit.Action.INVITE, actor=actor.name, institution=institution, ip=actor.ip, at=now, detail="to " + ", ".join(result.sent))
    return result


def record_csv_export(*, actor: Actor, rows: int, filters: str, now: datetime.datetime) -> None:
    audit.record(audit.Action.CSV_EXPORT, actor=actor.name, ip=actor.ip, at=now, detail=f"{rows} row(s); filters: {filters or 'none'}")
