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
INSTITUTION_FIELDS = ("name", "slug", "canvas_url", "time_zone")  # what staff and imports change
_DETAIL_LENGTH = AuditEvent._meta.get_field("detail").max_length
_ACTOR_LENGTH = AuditEvent._meta.get_field("actor").max_length


def record(action: str, **fields) -> AuditEvent:
    """Append one event (``event``'s fields). Raises if it cannot be written, so callers that guard
    a secret stop."""
    unsaved = event(action, **fields)
    with transaction.atomic():
        unsaved.save()
    return unsaved


def event(
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
    """One event, not yet written: for ``record`` and for ``record_all``."""
    if credential is not None and institution is None:
        institution = credential.institution
    return AuditEvent(
        at=at or timezone.now(),
        actor=actor[:_ACTOR_LENGTH],
        action=action,
        institution=institution,
        credential=credential,
        reason=reason,
        ip=ip or None,
        detail=_shorten(detail, _DETAIL_LENGTH),
    )


def record_all(events: list[AuditEvent]) -> None:
    """Append many events in a few INSERTs (an import of thousands of institutions)."""
    AuditEvent.objects.bulk_create(events, batch_size=500)


def institution_changes(before: dict | None, after: dict) -> list[tuple[str, str]]:
    """What changed between two snapshots of an institution, as (action, detail): one for its fields
    and one for its contacts, each only if something changed. A snapshot is ``{"fields": {name:
    value}, "contacts": {email: name}}``; ``before`` is None for a new institution."""
    changes = []
    if before is None:
        fields = ", ".join(f"{name} {value!r}" for name, value in after["fields"].items() if value)
        changes.append((Action.INSTITUTION_CHANGED, f"created: {fields}"))
        before = {"fields": after["fields"], "contacts": {}}
    else:
        was, now_is = before["fields"], after["fields"]
        changed = [f"{name} {was[name]!r} → {value!r}" for name, value in now_is.items() if was[name] != value]
        if changed:
            changes.append((Action.INSTITUTION_CHANGED, "; ".join(changed)))
    old, new = before["contacts"], after["contacts"]
    kept = sorted(old.keys() & new.keys())
    parts = [
        *(f"added {email}" for email in sorted(new.keys() - old.keys())),
        *(f"removed {email}" for email in sorted(old.keys() - new.keys())),
        *(f"renamed {email} {old[email]!r} → {new[email]!r}" for email in kept if old[email] != new[email]),
    ]
    if parts:
        changes.append((Action.CONTACTS_CHANGED, "; ".join(parts)))
    return changes


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
