"""The events pipelines follow, oldest first, as the API lists them and webhooks carry them.

Where each is emitted (each where the thing happens, nowhere else):

    event                  emitted by
    ---------------------  ----------------------------------------------------------------------
    credential.verified    keys/checks/transitions.py: Canvas confirmed a new key (it takes over)
    credential.superseded  keys/checks/transitions.py ``supersede_older``
    credential.failing     keys/checks/transitions.py: a working key is refused
    credential.recovered   keys/checks/transitions.py: a failing key works again
    credential.expiring    keys/reminders.py: at each reminder offset (not the lapse notice)
    credential.expired     keys/models/credential_queries.py ``expire_lapsed``
    credential.revoked     keys/models/credentials.py ``revoke``
    grant.authorized       keys/instructure/grants.py ``store``
    grant.lost             keys/instructure/grants.py ``lose``

An event names the institution, kind and credential, and says what happened in words; never a
secret. The cursor is the last event's id, as text; only settled events are passed (see
``PipelineEventQuerySet.settled``), so a cursor never skips an event that committed late.
"""

import datetime

from django.db.models import QuerySet

from keys.models import PipelineEvent, PipelineToken

CURSOR_PATTERN = r"^[0-9]{1,18}$"  # the API's schema refuses anything else (400 invalid_request)
Type = PipelineEvent.Type
TYPES = [value for value, _ in Type.choices]


def parse_cursor(cursor: str | None) -> int:
    """The id an answer's next_cursor names (the schema let through only ASCII digits); 0 for the first page."""
    return int(cursor) if cursor else 0


def in_scope(token: PipelineToken) -> QuerySet:
    events = PipelineEvent.objects.filter(kind__in=token.kinds)
    places = list(token.institutions.values_list("pk", flat=True))
    return events.filter(institution_id__in=places) if places else events


def page(token: PipelineToken, after: int, limit: int, now: datetime.datetime) -> list[PipelineEvent]:
    return list(in_scope(token).settled(now).filter(pk__gt=after).select_related("institution").order_by("pk")[:limit])


def as_json(event: PipelineEvent) -> dict:
    """One event as the API and a webhook's body show it (the Standard Webhooks payload shape)."""
    return {
        "id": str(event.pk),
        "type": event.type,
        "timestamp": event.at.isoformat().replace("+00:00", "Z"),
        "data": {
            "institution": event.institution.slug,
            "institution_name": event.institution.name,
            "kind": event.kind,
            "credential_id": event.credential_id,
            "detail": event.detail,
        },
    }
