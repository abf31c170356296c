"""What partner staff (and the pipeline command) do with credentials and institutions.

Each action and its audit event happen together: a secret is decrypted only after the event
that records the access has been written, in the same transaction, so a failed write means
nothing is shown.
"""

import datetime
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, limits
from keys.checks import live_checks
from keys.instructure import answers, grants
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
def open_secret(
    credential: Credential, *, action: str, actor: Actor, now: datetime.datetime, reason: str = "", detail: str = ""
) -> str:
    """Record the access, then decrypt. Only verified, usable credentials are ever opened."""
    if not credential.is_usable(now):
        raise NotAvailable(
            "Only a verified credential that still works can be revealed or exported; "
            f"this one is {credential.get_status_display().lower()}"
            + (" and past its expiry." if credential.expires_at and credential.expires_at <= now else ".")
        )
    with transaction.atomic():
        try:
            audit.record(
                action, actor=actor.name, credential=credential, reason=reason, ip=actor.ip, detail=detail, at=now
            )
        except Exception as exc:  # whatever stopped the write, the rule is the same: no record, no secret
            log.error("audit event for credential %s could not be written: %s", credential.pk, type(exc).__name__)
            raise AuditUnavailable from exc
        secret = credential.secret.reveal()  # SecretUnreadable rolls the event back: nothing was disclosed
    return secret


@sensitive_variables("secret")
def export_access_token(credential: Credential, *, actor: Actor, now: datetime.datetime, detail: str = ""):
    """Record the export, then mint a short-lived access token: the pipeline never holds the secret.
    The record and the token go together: if Canvas mints none, the record is rolled back."""
    with transaction.atomic():
        secret = open_secret(credential, action=audit.Action.ACCESS_TOKEN_EXPORT, actor=actor, now=now, detail=detail)
        return answers.access_token(credential, secret, now)


def reveal(credential: Credential, *, actor: Actor, reason: str, now: datetime.datetime) -> str:
    return open_secret(credential, action=audit.Action.REVEAL, actor=actor, reason=reason, now=now)


def revoke(credentials, *, actor: Actor, reason: str, now: datetime.datetime) -> list[Credential]:
    """Revoke each credential that can be; returns those this call revoked."""
    revoked = []
    for credential in credentials:
        # Canvas first: ending the admin's grant takes a token, minted with the secret about to go.
        in_canvas = grants.revoke_in_canvas(credential, now) if credential.can_be_revoked else ""
        with transaction.atomic():
            if credential.revoke(now):
                audit.record(
                    audit.Action.REVOKE,
                    actor=actor.name,
                    credential=credential,
                    reason=reason,
                    ip=actor.ip,
                    at=now,
                    detail="; ".join(filter(None, ["secret purged", in_canvas])),
                )
                credential.revoked_in_canvas = in_canvas  # for the page that reports it
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
        audit.record(
            audit.Action.COMPLETE,
            actor=actor.name,
            credential=credential,
            ip=actor.ip,
            at=now,
            detail="partner secret entered; now active",
        )
        live_checks.record(credential, verdict, trigger=CredentialCheck.Trigger.PARTNER_SECRET, now=now)
    return True


def rotate_intake_link(institution: Institution, *, actor: Actor, now: datetime.datetime) -> None:
    with transaction.atomic():
        institution.rotate_intake_token(now)
        audit.record(
            audit.Action.ROTATE_LINK,
            actor=actor.name,
            institution=institution,
            ip=actor.ip,
            at=now,
            detail="the previous intake link stopped working",
        )


@dataclass
class Invitation:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def invite_contacts(institution: Institution, *, actor: Actor, now: datetime.datetime) -> Invitation:
    """Email the intake link to each contact on file, one message each (no one sees the others)."""
    context = {
        "institution": institution,
        "links": [(kind, institution.intake_url(kind.slug)) for kind in kinds.KINDS.values()],
    }
    result = email_each_contact(institution, "invitation", context)
    if result.sent:
        audit.record(
            audit.Action.INVITE,
            actor=actor.name,
            institution=institution,
            ip=actor.ip,
            at=now,
            detail="to " + ", ".join(result.sent),
        )
    return result


def email_each_contact(institution: Institution, template: str, context: dict) -> Invitation:
    """One message per contact on file (no one sees the others); a failure is reported, not raised."""
    result = Invitation()
    for contact in institution.contacts.all():
        try:
            emails.send(template, [contact.email], {**context, "contact": contact})
        except Exception as exc:  # SMTP and socket errors alike: report, and go on with the others
            log.warning("%s email to a contact of %s failed: %s", template, institution.slug, type(exc).__name__)
            result.failed.append(contact.email)
        else:
            result.sent.append(contact.email)
    return result


def email_authorization_link(credential: Credential, *, actor: Actor, now: datetime.datetime) -> Invitation:
    """Email each contact on file the page where they grant the developer key access in Canvas."""
    url = credential.authorization_url()
    if not url:
        return Invitation()
    grant = credential.current_grant()
    context = {
        "institution": credential.institution,
        "credential": credential,
        "url": url,
        "canvas_host": urlsplit(credential.canvas_url).hostname,
        "reason": grant.lost_reason if grant else "",
    }
    result = email_each_contact(credential.institution, "authorization-link", context)
    if result.sent:
        audit.record(
            audit.Action.AUTHORIZATION_EMAILED,
            actor=actor.name,
            credential=credential,
            ip=actor.ip,
            at=now,
            detail=("to " + ", ".join(result.sent))[:300],
        )
    return result


def record_csv_export(*, actor: Actor, rows: int, filters: str, now: datetime.datetime) -> None:
    audit.record(
        audit.Action.CSV_EXPORT,
        actor=actor.name,
        ip=actor.ip,
        at=now,
        detail=f"{rows} row(s); filters: {filters or 'none'}",
    )


# Institutions and their contacts: what changed, in the audit trail ----------------------------


def institution_snapshot(institution: Institution) -> dict:
    """The parts of an institution staff can change: its fields and its contacts on file."""
    fields = {name: getattr(institution, name) for name in audit.INSTITUTION_FIELDS}
    contacts = {contact.email: contact.name for contact in institution.contacts.all()}
    return {"fields": fields, "contacts": contacts}


def record_institution_change(
    institution: Institution, before: dict | None, *, actor: Actor, now: datetime.datetime
) -> None:
    """One event for the institution's fields and one for its contacts, each only if something changed."""
    for action, detail in audit.institution_changes(before, institution_snapshot(institution)):
        audit.record(action, actor=actor.name, institution=institution, ip=actor.ip, at=now, detail=detail)


def record_institution_deletion(institution: Institution, *, actor: Actor, now: datetime.datetime) -> None:
    """Before the row goes: the event cannot point at a deleted institution (and would PROTECT it),
    so it names the institution and the contacts deleted with it instead."""
    snapshot = institution_snapshot(institution)
    fields = ", ".join(f"{name} {value!r}" for name, value in snapshot["fields"].items() if value)
    contacts = ", ".join(sorted(snapshot["contacts"])) or "none"
    audit.record(
        audit.Action.INSTITUTION_DELETED,
        actor=actor.name,
        ip=actor.ip,
        at=now,
        detail=f"deleted: {fields}; contacts deleted with it: {contacts}",
    )


def lift_limits(institution: Institution, *, actor: Actor, now: datetime.datetime) -> int:
    """Let the intake link take submissions, and its contacts receive codes, again at once."""
    with transaction.atomic():
        freed = limits.lift_for_institution(institution)
        audit.record(
            audit.Action.LIMIT_LIFTED,
            actor=actor.name,
            institution=institution,
            ip=actor.ip,
            at=now,
            detail=f"{freed} use(s) of the link's and contacts' hourly limits freed",
        )
    return freed
