"""The pipeline API, /api/v1/: JSON, ``Authorization: Bearer <pipeline token>``, described by the
OpenAPI 3 document django-ninja generates from these functions and keys/pipelines/schemas.py
(/api/v1/openapi.json). Views only translate HTTP: tokens.py authenticates and counts, access.py
decides and audits.

Every answer is JSON; every error is ``{"error": {"code", "message"}}`` with a stable code:
400 invalid_request, 401 missing / invalid / expired / revoked token, 403 out of
scope, 404, 409 (nothing Canvas will give now), 424 (Canvas unreachable, with Retry-After), 429
rate_limited (with Retry-After). The fuzz test (tests/test_api_fuzz.py) holds it to the document.
"""

from typing import Annotated

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Path, Query
from ninja.errors import ValidationError
from ninja.security import HttpBearer

from keys import staff
from keys.pipelines import access, events, tokens
from keys.pipelines.schemas import (
    AccessTokenOut,
    CredentialPage,
    Error,
    EventPage,
    KindSlug,
    SecretOut,
)
from keys.sealing import SecretUnreadable
from portal.client import client_ip

DESCRIPTION = """Keydrop's API for data pipelines. Each pipeline has its own token, scoped to kinds of
credential and optionally to institutions; every request is in Keydrop's audit trail. Ask for a
short-lived access token rather than a secret; follow `/events` (or a webhook) to learn when a key
changes."""


class PipelineBearer(HttpBearer):
    """The pipeline token; each authenticated request also counts against the token's rate."""

    def __call__(self, request: HttpRequest):
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else ""
        now = timezone.now()
        token = tokens.authenticate(presented, now)
        tokens.take_rate(token, now)
        return token

    def authenticate(self, request, token):  # __call__ does it all
        return None


api = NinjaAPI(
    title="Keydrop pipeline API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api_v1",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=PipelineBearer(),
)
Slug = Annotated[str, Path(max_length=80)]
COMMON = {400: Error, 401: Error, 429: Error}
CREDENTIAL = {**COMMON, 403: Error, 404: Error, 503: Error}


def error(request, status: int, code: str, message: str, headers: dict | None = None) -> HttpResponse:
    response = api.create_response(request, {"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(tokens.TokenRefused)
def token_refused(request, exc: tokens.TokenRefused):
    return error(request, 401, exc.code, exc.message, {"WWW-Authenticate": 'Bearer realm="keydrop"'})


@api.exception_handler(tokens.RateLimited)
def rate_limited(request, exc: tokens.RateLimited):
    message = f"This token made too many requests this minute; try again in {exc.retry_after}s."
    return error(request, 429, "rate_limited", message, {"Retry-After": str(exc.retry_after)})


@api.exception_handler(ValidationError)
def invalid(request, exc: ValidationError):
    # Where and what, never the value sent: a pipeline may have put a secret in the wrong place.
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ())[1:]) or 'request'}: {problem.get('msg', 'invalid')}"
        for problem in exc.errors
    )
    return error(request, 400, "invalid_request", problems[:500] or "The request is not valid.")


@api.exception_handler(access.Refused)
def refused(request, exc: access.Refused):
    return error(request, exc.status, exc.code, exc.message, exc.headers)


@api.exception_handler(staff.AuditUnavailable)
def audit_unavailable(request, exc):
    return error(request, 503, "audit_unavailable", "The audit trail could not record this use; nothing was given.")


@api.exception_handler(SecretUnreadable)
def secret_unreadable(request, exc):
    return error(request, 409, "secret_unreadable", "The stored secret cannot be opened; Keydrop's staff must look.")


@api.exception_handler(staff.NotAvailable)
def not_available(request, exc):
    return error(request, 404, "no_usable_credential", "The credential stopped being usable just now.")


def use(request, what: str) -> access.Use:
    return access.Use(request.auth, client_ip(request), what, timezone.now())


@api.get("/credentials", response={200: CredentialPage, **COMMON, 403: Error}, operation_id="listCredentials")
def list_credentials(
    request,
    kind: KindSlug | None = None,
    institution: str | None = Query(None, max_length=80),
    limit: int = Query(50, ge=1, le=100),
    offset: int = Query(0, ge=0, le=1_000_000),
):
    """The working credential of each institution and kind this token reaches, by institution slug and
    kind. No secret."""
    current = use(request, "GET credentials")
    keys = access.working_keys(current, kind, institution)
    count = keys.count()
    items = [access.describe(credential) for credential in keys[offset : offset + limit]]
    current.record(f"{len(items)} of {count} listed")
    following = offset + limit if offset + limit < count else None
    return {"items": items, "count": count, "limit": limit, "offset": offset, "next_offset": following}


@api.post(
    "/institutions/{slug}/credentials/{kind}/access-token",
    response={200: AccessTokenOut, **CREDENTIAL, 409: Error, 424: Error},
    operation_id="createAccessToken",
)
def create_access_token(request, response: HttpResponse, slug: Slug, kind: KindSlug):
    """A short-lived access token and its true expiry: a developer key's grant token (it works until
    the expiry stated), or Canvas Data 2's login token, shared while it has time left. No secret."""
    credential, token = access.access_token(use(request, f"POST access-token {slug}/{kind}"), slug, kind)
    base_name, base_url = credential.kind_spec.base_url(credential)
    response["Cache-Control"] = "no-store"
    return {
        "access_token": token.token,
        "token_type": "Bearer",
        # Whole seconds, rounded down: never later than the expiry Keydrop stated.
        "expires_at": token.expires_at.replace(microsecond=0),
        "base_url": base_url,
        "base_url_variable": base_name,
        "credential_id": credential.pk,
    }


@api.post(
    "/institutions/{slug}/credentials/{kind}/secret",
    response={200: SecretOut, **CREDENTIAL, 409: Error},
    operation_id="revealSecret",
)
def reveal_secret(request, response: HttpResponse, slug: Slug, kind: KindSlug):
    """Client ID and secret: only for a token made with --allow-secrets, and audited like a staff reveal."""
    credential, secret = access.secret(use(request, f"POST secret {slug}/{kind}"), slug, kind)
    base_name, base_url = credential.kind_spec.base_url(credential)
    response["Cache-Control"] = "no-store"
    return {
        "client_id": credential.client_id,
        "client_secret": secret,
        "base_url": base_url,
        "base_url_variable": base_name,
        "expires_at": credential.expires_at,
        "credential_id": credential.pk,
    }


@api.get("/events", response={200: EventPage, **COMMON}, operation_id="listEvents")
def list_events(
    request,
    after: str | None = Query(None, pattern=events.CURSOR_PATTERN, description="next_cursor of the previous answer"),
    limit: int = Query(100, ge=1, le=500),
):
    """What changed, oldest first: credential.verified, .superseded, .failing, .recovered, .expiring,
    .expired, .revoked, grant.authorized, grant.lost. Never a secret."""
    current = use(request, "GET events")
    start = events.parse_cursor(after)
    found = events.page(current.token, start, limit, current.now)
    current.record(f"{len(found)} event(s) after {start}")
    cursor = str(found[-1].pk) if found else str(start)
    return {"events": [events.as_json(event) for event in found], "next_cursor": cursor}
