"""What a pipeline token may do with credentials, each use in the audit trail as ``pipeline:NAME``.

- list: the working key of each institution and kind in the token's scope (no secret);
- access token: a short-lived token (the grant's for a developer key, the shared login for Canvas
  Data 2), audited as an access-token export, exactly as ``export_credential --access-token``;
- secret: Client ID and secret, only for a token made with --allow-secrets, audited as a reveal.

Refusals are ``Refused`` with an HTTP status and a stable code; the API only translates them.
"""

import datetime
from dataclasses import dataclass, field

from django.db import models
from django.db.models.functions import RowNumber
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, staff
from keys.instructure import answers, outbound
from keys.instructure.canvas import AccessToken
from keys.models import Credential, Institution, PipelineToken
from keys.models.credential_queries import pipeline_order

RETRY_LATER_SECONDS = 60


@dataclass
class Refused(Exception):
    status: int
    code: str
    message: str
    headers: dict = field(default_factory=dict)


class Use:
    """One authenticated request of a token: who, from where, and the audit event it leaves."""

    def __init__(self, token: PipelineToken, ip: str | None, what: str, now: datetime.datetime):
        self.token, self.ip, self.what, self.now = token, ip, what, now

    @property
    def actor(self) -> staff.Actor:
        return staff.Actor(self.token.actor, self.ip)

    def record(self, outcome: str, credential: Credential | None = None, institution: Institution | None = None):
        audit.record(
            audit.Action.PIPELINE_API,
            actor=self.token.actor,
            credential=credential,
            institution=institution,
            ip=self.ip,
            at=self.now,
            detail=f"{self.what}: {outcome}",
        )

    def refuse(self, status: int, code: str, message: str, **headers) -> Refused:
        self.record(f"refused {status} {code}")
        return Refused(status, code, message, headers)


# Listing ------------------------------------------------------------------------------------------


def working_keys(use: Use, kind: str | None, institution: str | None):
    """The key a pipeline should use for each institution and kind in scope (the export's choice)."""
    token = use.token
    if kind is not None and kind not in token.kinds:
        raise use.refuse(403, "out_of_scope", f"This token does not reach {kind} credentials.")
    places = list(token.institutions.values_list("slug", flat=True))
    if institution is not None and places and institution not in places:
        raise use.refuse(403, "out_of_scope", "This token does not reach that institution.")
    keys = Credential.objects.usable(use.now).filter(kind__in=[kind] if kind else token.kinds)
    if places:
        keys = keys.filter(institution__slug__in=places)
    if institution is not None:
        keys = keys.filter(institution__slug=institution)
    return (
        keys.annotate(
            choice=models.Window(
                RowNumber(), partition_by=[models.F("institution_id"), models.F("kind")], order_by=pipeline_order()
            )
        )
        .filter(choice=1)
        .select_related("institution", "grant")
        .defer("secret")
        .order_by("institution__slug", "kind")
    )


def describe(credential: Credential) -> dict:
    """A working key as a pipeline reads it: everything but the secret."""
    base_name, base_url = credential.kind_spec.base_url(credential)
    check = credential.last_check()
    grant = credential.current_grant() if credential.kind_spec.needs_grant else None
    return {
        "credential_id": credential.pk,
        "institution": credential.institution.slug,
        "institution_name": credential.institution.name,
        "kind": credential.kind,
        "client_id": credential.client_id,
        "canvas_url": credential.canvas_url or credential.institution.canvas_url,
        "base_url": base_url,
        "base_url_variable": base_name,
        "expires_at": credential.expires_at,
        "status": credential.status,
        "last_check": {"outcome": check.outcome, "reason": check.reason, "at": check.checked_at} if check else None,
        "grant": None
        if not credential.kind_spec.needs_grant
        else {
            "exists": grant is not None and grant.lost_at is None and grant.purged_at is None,
            "authorized_by": grant.authorized_by if grant else "",
            "authorized_at": grant.authorized_at if grant else None,
        },
    }


# One credential ------------------------------------------------------------------------------------


def working_key(use: Use, slug: str, kind: str) -> Credential:
    """The key a pipeline should use, or Refused: 403 outside the scope, 404 none (or no such place)."""
    token = use.token
    places = list(token.institutions.values_list("slug", flat=True))
    if kind not in token.kinds or (places and slug not in places):
        raise use.refuse(403, "out_of_scope", "This token does not reach that institution or kind.")
    institution = Institution.objects.filter(slug=slug).first()
    if institution is None:
        raise use.refuse(404, "not_found", "No institution has that slug.")
    credential = (
        Credential.objects.for_pipeline(use.now)
        .filter(institution=institution, kind=kind)
        .select_related("institution")
        .first()
    )
    if credential is None:
        spec = kinds.get(kind)
        raise use.refuse(
            404,
            "no_usable_credential",
            f"{institution.name} has no usable {spec.label}: none is verified, or each has expired or been revoked.",
        )
    return credential


@sensitive_variables("token")
def access_token(use: Use, slug: str, kind: str) -> tuple[Credential, AccessToken]:
    credential = working_key(use, slug, kind)
    if credential.awaits_authorization:
        raise use.refuse(
            409,
            "awaiting_authorization",
            "No Canvas admin has granted this developer key access yet, or Canvas ended it.",
        )
    try:
        token = staff.export_access_token(credential, actor=use.actor, now=use.now, detail="pipeline API")
    except answers.AccessUnavailable as exc:
        raise use.refuse(424, "canvas_unavailable", str(exc), **{"Retry-After": str(RETRY_LATER_SECONDS)}) from None
    except answers.AccessRefused as exc:
        raise use.refuse(409, "canvas_refused", str(exc)) from None
    except outbound.OutboundError as exc:
        raise use.refuse(
            424,
            "canvas_unavailable",
            f"Canvas could not be reached ({exc}).",
            **{"Retry-After": str(RETRY_LATER_SECONDS)},
        ) from None
    return credential, token


@sensitive_variables("secret")
def secret(use: Use, slug: str, kind: str) -> tuple[Credential, str]:
    if not use.token.allow_secrets:
        raise use.refuse(
            403, "secrets_not_allowed", "This token may not read secrets: ask for an access token instead."
        )
    credential = working_key(use, slug, kind)
    return credential, staff.open_secret(
        credential,
        action=audit.Action.REVEAL,
        actor=use.actor,
        now=use.now,
        reason="pipeline API",
        detail="pipeline API",
    )
