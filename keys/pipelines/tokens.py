"""Pipeline tokens: made and revoked by staff (audited), presented as ``Authorization: Bearer``.

    rule                                   where
    -------------------------------------  ------------------------------------------------------
    shown once, stored as SHA-256 only     create() returns the plaintext; the row has its digest
    401 missing / wrong / expired / revoked authenticate(): each its own stable code
    every use is an audit event            keys/pipelines/access.py (actor pipeline:NAME)
    N requests a minute per token          take_rate(): one conditional UPDATE, below

The rate is a fixed minute window on the token's own row, counted with a conditional UPDATE:

    UPDATE token SET rate_window = <this minute>, rate_count = 1
     WHERE id = <token> AND (rate_window IS NULL OR rate_window < <this minute>)
    -- if no row changed:
    UPDATE token SET rate_count = rate_count + 1
     WHERE id = <token> AND rate_window = <this minute> AND rate_count < N

Racing requests cannot both pass the last place: on PostgreSQL the second UPDATE waits for the
first's row lock and then re-checks its WHERE against the new count; on SQLite writers take turns.
So N + k requests in one minute get exactly N (tests/test_api_rate.py races them).
"""

import datetime
import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from keys import audit, kinds
from keys.models import Institution, PipelineToken
from keys.models.pipelines import TOKEN_PREFIX, token_digest

MAX_TOKEN_LENGTH = 200  # ours are 47 characters; anything much longer is not one, and is not hashed


class TokenRefused(Exception):
    """401: ``code`` is missing_token, invalid_token, expired_token or revoked_token."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


def create(
    name: str,
    *,
    kind_slugs: list[str],
    institution_slugs: list[str] = (),
    expires_in_days: int | None = None,
    allow_secrets: bool = False,
    actor: str,
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> tuple[PipelineToken, str]:
    """A new token and its plaintext (shown once). ValidationError says what is wrong; nothing is stored then."""
    now = now or timezone.now()
    problems = {}
    if not name or slugify(name) != name or len(name) > 80:
        problems["name"] = "A name is lowercase letters, digits and hyphens (at most 80), e.g. nightly-sync."
    elif PipelineToken.objects.filter(name=name).exists():
        problems["name"] = f"A pipeline token named {name!r} exists already (revoke it, or choose another name)."
    unknown = sorted(set(kind_slugs) - set(kinds.KINDS))
    if not kind_slugs or unknown:
        problems["kinds"] = f"Choose one or more kinds of: {', '.join(kinds.KINDS)}."
    found = list(Institution.objects.filter(slug__in=institution_slugs))
    missing = sorted(set(institution_slugs) - {institution.slug for institution in found})
    if missing:
        problems["institutions"] = f"No institution with the slug {', '.join(missing)}."
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        problems["expires_at"] = "A token lasts from 1 to 3650 days."
    if problems:
        raise ValidationError(problems)
    plaintext = PipelineToken.new_token()
    with transaction.atomic():
        token = PipelineToken.objects.create(
            name=name,
            digest=token_digest(plaintext),
            kinds=sorted(set(kind_slugs)),
            allow_secrets=allow_secrets,
            created_by=actor,
            created_at=now,
            expires_at=now + datetime.timedelta(days=expires_in_days) if expires_in_days else None,
        )
        token.institutions.set(found)
        record(token, f"created: {token.scope_summary()}", actor=actor, ip=ip, now=now)
    return token, plaintext


def revoke(token: PipelineToken, *, actor: str, ip: str | None = None, now: datetime.datetime | None = None) -> bool:
    """True if this call revoked it; the next request with it gets 401 revoked_token."""
    now = now or timezone.now()
    with transaction.atomic():
        if not PipelineToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        ):
            return False
        record(token, "revoked", actor=actor, ip=ip, now=now)
    token.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return True


def record(token: PipelineToken, what: str, *, actor: str, ip: str | None, now: datetime.datetime) -> None:
    audit.record(audit.Action.PIPELINE_TOKEN, actor=actor, ip=ip, at=now, detail=f"pipeline token {token.name}: {what}")


def authenticate(presented: str, now: datetime.datetime) -> PipelineToken:
    """The live token presented, or TokenRefused with the reason a pipeline can act on."""
    if not presented:
        raise TokenRefused("missing_token", "Send the pipeline token as 'Authorization: Bearer <token>'.")
    wrong = TokenRefused("invalid_token", "This is not a pipeline token Keydrop knows.")
    if len(presented) > MAX_TOKEN_LENGTH or not presented.startswith(TOKEN_PREFIX):
        raise wrong
    token = PipelineToken.objects.filter(digest=token_digest(presented)).first()
    # The digest found the row; comparing it again in constant time costs nothing and reads as the rule.
    if token is None or not hmac.compare_digest(token.digest, token_digest(presented)):
        raise wrong
    if token.revoked_at:
        raise TokenRefused("revoked_token", "This pipeline token was revoked. Ask staff for a new one.")
    if token.expires_at and token.expires_at <= now:
        raise TokenRefused("expired_token", "This pipeline token has expired. Ask staff for a new one.")
    return token


def take_rate(token: PipelineToken, now: datetime.datetime) -> None:
    """Count one request against the token's minute (and note its last use), or raise RateLimited."""
    limit = settings.PORTAL_API_REQUESTS_PER_MINUTE
    window = now.replace(second=0, microsecond=0)
    mine = PipelineToken.objects.filter(pk=token.pk)
    started = mine.filter(Q(rate_window__isnull=True) | Q(rate_window__lt=window)).update(
        rate_window=window, rate_count=1, last_used_at=now
    )
    if started or mine.filter(rate_window=window, rate_count__lt=limit).update(
        rate_count=F("rate_count") + 1, last_used_at=now
    ):
        return
    next_window = window + datetime.timedelta(minutes=1)
    raise RateLimited(max(1, int((next_window - now).total_seconds() + 0.999)))
