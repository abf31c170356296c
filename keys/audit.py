"""The audit trail: every access to a secret and every change staff make, written in one place.

An event says who (a staff username, ``cli:<os user>`` for commands, or a customer contact's
masked address), what, which institution and credential, why, and from which address. It never
holds a secret: callers pass descriptions, and nothing here accepts a credential's secret.
"""

import datetime
import getpass
import os

from django.db import transaction
from django.utils import timezone

from keys.models import AuditEvent, Credential, Institution

Action = AuditEvent.Action
_DETAIL_LENGTH = AuditEvent._meta.get_field("detail").max_length
_ACTOR_LENGTH = AuditEvent._meta.get_field("actor").max_length


def record(
    action: str,
    *,
    actor: str,
    institution: Institution | None = None,
    credential: Credential | None = None,
    reason: str = "",
    ip: str | None = None,
    detail: str = "",
    at: datetime.datetime | None = None,
) -> AuditEvent:
    """Append one event. Raises if it cannot be written, so callers that guard a secret stop."""
    if credential is not None and institution is None:
        institution = credential.institution
    with transaction.atomic():
        return AuditEvent.objects.create(
            at=at or timezone.now(),
            actor=actor[:_ACTOR_LENGTH],
            action=action,
            institution=institution,
            credential=credential,
            reason=reason,
            ip=ip or None,
            detail=_shorten(detail, _DETAIL_LENGTH),
        )


def staff_actor(request) -> str:
    return request.user.get_username()


def cli_actor() -> str:
    """cli:<os user>: the account that ran a management command."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER, as in some containers
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
