"""Webhook endpoints: added by staff (admin or ``webhook_endpoint add``), each change audited.

An endpoint's URL obeys the outbound rules of every Canvas check (keys/instructure/outbound.py:
https, public addresses; PORTAL_OUTBOUND_ALLOW_PRIVATE=1 allows loopback http for tests), judged
here without DNS and again by the guarded connection at each delivery. Its signing secret
(``whsec_…``) is returned once and kept sealed: deliveries are signed with it (signing.py).
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import audit
from keys.instructure import outbound
from keys.models import PipelineEvent, WebhookEndpoint
from keys.models.webhooks import EVENT_TYPES


def url_problem(url: str) -> str | None:
    if len(url) > WebhookEndpoint._meta.get_field("url").max_length:
        return "it is too long"
    return outbound.Policy.from_settings().url_problem(url)


@sensitive_variables("secret")
def add(
    url: str,
    events: list[str],
    *,
    actor: str,
    description: str = "",
    ip: str | None = None,
    now: datetime.datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once). ValidationError says what is wrong; then nothing is kept."""
    now = now or timezone.now()
    problems = {}
    problem = url_problem(url)
    if problem:
        problems["url"] = f"Keydrop does not send webhooks to that address: {problem}."
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        problems["events"] = f"Choose one or more events of: {', '.join(EVENT_TYPES)}."
    if problems:
        raise ValidationError(problems)
    secret = WebhookEndpoint.new_secret()
    with transaction.atomic():
        # It hears what happens from now on: the events already recorded are not its to deliver.
        latest = PipelineEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0
        endpoint = WebhookEndpoint(
            url=url,
            events=sorted(set(events)),
            description=description[:200],
            created_by=actor,
            created_at=now,
            planned_through=latest,
        )
        endpoint.set_secret(secret)
        endpoint.save()
        record(endpoint, f"added for {', '.join(endpoint.events)}", actor=actor, ip=ip, now=now)
    return endpoint, secret


def enable(endpoint: WebhookEndpoint, *, actor: str, ip: str | None = None, now: datetime.datetime | None = None):
    """Staff switch a disabled endpoint back on: its failing clock starts again."""
    now = now or timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=None, disabled_reason="", failing_since=None)
        record(endpoint, "enabled again", actor=actor, ip=ip, now=now)


def disable(endpoint: WebhookEndpoint, reason: str, *, actor: str, ip: str | None = None, now=None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        done = WebhookEndpoint.objects.filter(pk=endpoint.pk, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=reason[:300]
        )
        if done:
            record(endpoint, f"disabled: {reason}", actor=actor, ip=ip, now=now)
    return bool(done)


def record(endpoint: WebhookEndpoint, what: str, *, actor: str, ip: str | None, now: datetime.datetime) -> None:
    audit.record(audit.Action.WEBHOOK_ENDPOINT, actor=actor, ip=ip, at=now, detail=f"webhook {endpoint.url}: {what}")
