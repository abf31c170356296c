"""Submitting a credential and sending its verification code."""

import datetime
import logging
import smtplib

from django.conf import settings
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from intake.models import Verification
from keys import customer_view, kinds, limits, shared_keys
from keys.checks import live_checks
from keys.models import Credential, Institution
from portal import emails

log = logging.getLogger(__name__)


class SubmissionRefused(Exception):
    """Shown to the visitor as a form error; nothing was stored. `retry_at`: when a limit frees up."""

    def __init__(self, message: str, status: int = 400, retry_at: datetime.datetime | None = None):
        super().__init__(message)
        self.message, self.status, self.retry_at = message, status, retry_at


class CodeNotSent(Exception):
    """The mail server did not take the code email; the re-send it used is given back."""


LINK_BUSY = (
    "This link has received many submissions in the last hour. To protect your admins' inboxes, "
    "please wait before trying again."
)
INBOX_BUSY = (
    "We have sent several codes to that address in the last hour. To protect that inbox, please wait "
    "before trying again."
)


def _take(scope: str, limit: int, message: str, now: datetime.datetime) -> limits.Slot:
    try:
        return limits.take(scope, limit, now)
    except limits.LimitReached as full:
        raise SubmissionRefused(message, status=429, retry_at=full.retry_at) from None


def flood_limits(institution: Institution, contact_id: int, ip: str | None) -> list[tuple[str, int]]:
    """An intake link must not become a way to flood an institution's admins with code emails.

    The hourly limits a submission counts against, one use each: its link, its client address, and
    the code email to its contact (last, so `submit` can give that one back if no email went out).
    """
    wanted = [(limits.link_scope(institution.pk), settings.PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR)]
    if ip:
        wanted.append((limits.address_scope(ip), settings.PORTAL_SUBMISSIONS_PER_IP_PER_HOUR))
    wanted.append((limits.contact_scope(contact_id), settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR))
    return wanted


def take_code_email_slot(contact_id: int, now: datetime.datetime) -> limits.Slot:
    """A re-sent code counts against its contact's hourly limit like the first one."""
    return _take(limits.contact_scope(contact_id), settings.PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR, INBOX_BUSY, now)


def submit(
    *, institution: Institution, kind: kinds.Kind, data: dict, ip: str | None, now: datetime.datetime
) -> Verification:
    """Store a pending credential (secret encrypted from the first moment) and email its code."""
    contact = data["contact"]
    partner_key = kinds.is_partner_key(data.get("key_type"))
    credential = Credential(
        institution=institution,
        kind=kind.slug,
        client_id=data["client_id"],
        key_type=data.get("key_type", ""),
        canvas_url=data.get("canvas_url", ""),
        lifetime=data["expiry"],
        key_created_on=data.get("created_on"),
        expires_at=kinds.start_of_day(data["expires_on"], institution.tz) if data.get("expires_on") else None,
        submitted_at=now,
    )
    if not partner_key:
        credential.set_secret(data["client_secret"])
    try:
        # The uses of the flood limits and the submission commit together: a refusal, or a replayed
        # form, rolls back the uses already taken, and nothing is stored.
        with limits.taking(flood_limits(institution, contact.pk, ip), now) as slots:
            credential.save()
            verification = Verification(
                credential=credential, form_nonce=data["form_nonce"], contact=contact, submitter_ip=ip, started_at=now
            )
            code = verification.first_code(now)  # stored with the row: one write, not three
            verification.save()
    except limits.LimitReached as full:
        message = INBOX_BUSY if full.scope == limits.contact_scope(contact.pk) else LINK_BUSY
        raise SubmissionRefused(message, status=429, retry_at=full.retry_at) from None
    except IntegrityError:
        # The form's one-time nonce is taken: a replayed or double-submitted form. Nothing was stored.
        raise SubmissionRefused(
            "This form was already submitted. Check your email for the code, "
            "or reload the page to start a new submission."
        ) from None
    log.info("submission %s received for institution %s (%s)", verification.pk, institution.slug, kind.slug)
    try:
        email_code(verification, code)
    except CodeNotSent:
        limits.give_back(slots[-1])  # no email went out; the verification page offers to send it again
    return verification


def send_code(verification: Verification, now: datetime.datetime) -> bool:
    """Issue a fresh code and email it to the on-file contact. False if no code may be issued."""
    code = verification.issue_code(now)
    if code is None:
        return False
    email_code(verification, code)
    return True


def email_code(verification: Verification, code: str) -> None:
    """Email an issued code; if the mail server refuses, the code is voided and its re-send given back."""
    credential = verification.credential
    context = {
        "code": code,
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "masked_client_id": credential.masked_client_id,
    }
    try:
        emails.send("verification-code", [verification.contact.email], context)
    except (smtplib.SMTPException, OSError) as exc:  # the mail server refused, or was not there
        verification.withdraw_code()
        log.warning("verification code email for submission %s failed: %s", verification.pk, type(exc).__name__)
        raise CodeNotSent from exc
    log.info("verification code %d sent for submission %s", verification.codes_sent, verification.pk)


def hand_over(verification: Verification) -> None:
    """Right after verification: ask Canvas whether the key works (the receipt shows the answer),
    then tell partner staff, unless Canvas refused it: a rejected key never becomes active."""
    credential = verification.credential
    checked = live_checks.at_handover(credential)
    if checked is None or checked.change != "rejected":
        tell_staff(verification)
        shared_keys.flag_at_handover(credential, timezone.now())  # one key, one institution


def handover_state(credential: Credential) -> str:
    """What the receipt says about Canvas's answer: works, rejected, needs_fix (kept until fixed in
    Canvas), checking (inconclusive so far), or "" (nothing to check yet: an Instructure Partner key
    waits for its secret)."""
    if credential.status == Credential.Status.REJECTED:
        return "rejected"
    if credential.status == Credential.Status.NEEDS_FIX:
        return "needs_fix"
    if credential.last_worked_at:
        return "works"
    return "checking" if credential.handover_check_pending else ""


# Check again: enough for every fix an admin tries in an hour, not for testing keys in a loop.
CHECKS_AGAIN_PER_HOUR = 12
CHECKED_AGAIN = {
    "confirmed": "Canvas accepts the key now: it is in use. Thank you.",
    "rejected": "Canvas now says the key itself is wrong, so we did not keep it: please hand over a new key.",
    "needs_fix": "Canvas still refuses the key. Check the change below in Canvas and try again.",
    "": "Canvas still refuses the key. Check the change below in Canvas and try again.",
}


def check_again(credential: Credential, now) -> str:
    """The customer's Check again on a key that needs a fix in Canvas; what happened, in words.
    Raises limits.LimitReached past CHECKS_AGAIN_PER_HOUR for the key."""
    limits.take(limits.check_again_scope(credential.pk), CHECKS_AGAIN_PER_HOUR, now)
    checked = live_checks.again_after_fix(credential)
    if checked.outcome == "inconclusive":
        return f"Canvas gave no clear answer just now ({checked.record.reason}) We will keep checking every hour."
    return CHECKED_AGAIN.get(checked.change, CHECKED_AGAIN[""])


def tell_staff(verification: Verification) -> None:
    """Partner staff hear of a credential once it is verified, never before; a partner key needs
    them to enter the secret Instructure sends. Best effort: the admin shows it either way."""
    if not settings.PORTAL_STAFF_EMAILS:
        return
    credential = verification.credential
    context = {
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "masked_client_id": credential.masked_client_id,
        "expires_on": credential.expires_on(),
        "partner_key": credential.is_partner_key,
        "check_outcome": credential.last_check_outcome,
        "check_reason": credential.last_check_reason,
        "admin_url": settings.PORTAL_BASE_URL + reverse("admin:keys_credential_change", args=[credential.pk]),
    }
    try:
        emails.send("staff-new-credential", list(settings.PORTAL_STAFF_EMAILS), context)
    except Exception as exc:
        log.warning("staff notice of credential %s failed: %s", credential.pk, type(exc).__name__)


def send_receipt(verification: Verification, now: datetime.datetime) -> None:
    """The receipt, by email, to the on-file address that confirmed the code: the same details as
    the receipt page, nothing secret. Best effort: the page shows them either way."""
    credential = verification.credential
    context = {
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "summary": customer_view.summarise(credential, now, settings.PORTAL_PARTNER_NAME),
        "partner_key": credential.is_partner_key,
        "confirmed_by": verification.contact.masked_email,
        "confirmed_at": verification.verified_at,
        "page_url": credential.institution.intake_url(credential.kind),
    }
    try:
        emails.send("receipt", [verification.contact.email], context)
    except Exception as exc:
        log.warning("receipt email for credential %s failed: %s", credential.pk, type(exc).__name__)
