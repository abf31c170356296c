"""Webhook deliveries through the outbox (keys/outbox.py): what differs about sending them.

The outbox guarantees each delivery is sent once however many sweeps race (one claim, and only
the claim's holder records), none is lost when a worker dies (a lease), and a refused one is retried
with its back-off. Here: planning (each settled event a subscribed endpoint has not had becomes one
row, unique per endpoint and event), signing and posting through the outbound guard, and the
endpoint that has refused everything for PORTAL_WEBHOOK_DISABLE_AFTER_DAYS: disabled, staff told.
"""

import datetime
import json
import logging

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from keys import outbox
from keys.instructure import outbound
from keys.models import PipelineEvent, WebhookDelivery, WebhookEndpoint
from keys.pipelines import endpoints, events, signing
from portal import emails

log = logging.getLogger(__name__)
PLAN_BATCH = 1000  # events planned per endpoint per sweep; the rest follow in the next
USER_AGENT = "Keydrop webhooks"


class Refused(Exception):
    """The endpoint did not answer 2xx."""


def plan(now) -> int:
    """Owe each enabled endpoint the settled events it subscribes to that it has not been owed yet."""
    latest = PipelineEvent.objects.settled(now).aggregate(latest=Max("pk"))["latest"] or 0
    planned = 0
    for endpoint in WebhookEndpoint.objects.filter(disabled_at__isnull=True, planned_through__lt=latest):
        window = PipelineEvent.objects.filter(pk__gt=endpoint.planned_through, pk__lte=latest).order_by("pk")
        through = window.values_list("pk", flat=True)[PLAN_BATCH - 1 : PLAN_BATCH].first() or latest
        wanted = window.filter(pk__lte=through, type__in=endpoint.events).values_list("pk", flat=True)
        rows = [WebhookDelivery(endpoint=endpoint, event_id=pk, not_before=now) for pk in wanted]
        planned += len(WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True))  # racers: once each
        WebhookEndpoint.objects.filter(pk=endpoint.pk, planned_through__lt=through).update(planned_through=through)
    return planned


class Webhooks(outbox.Outbox):
    model = WebhookDelivery
    noun = "webhook"

    def in_flight(self) -> float:
        return settings.PORTAL_OUTBOUND_DEADLINE  # a POST never outlasts its session's deadline

    def load(self, claimed):
        return claimed.select_related("endpoint", "event__institution")

    def hold(self, delivery: WebhookDelivery, now):
        if not delivery.endpoint.enabled:
            return outbox.Hold.cancel("The endpoint is disabled.")
        return None

    def send(self, delivery: WebhookDelivery, now) -> list[str]:
        body = json.dumps(events.as_json(delivery.event), separators=(",", ":")).encode()
        secret = delivery.endpoint.secret.reveal()
        headers = {**signing.headers(secret, delivery.message_id, int(now.timestamp()), body), "User-Agent": USER_AGENT}
        try:
            with outbound.Session() as http:
                answer = http.request("POST", delivery.endpoint.url, content=body, headers=headers)
        except outbound.OutboundError:
            self.failed(delivery, now, None)
            raise
        if not 200 <= answer.status < 300:
            self.failed(delivery, now, answer.status)
            raise Refused(f"HTTP {answer.status}")
        return [delivery.endpoint.url]

    def sent_fields(self, delivery, now) -> dict:
        return {"response_status": 200}

    def after_sent(self, delivery: WebhookDelivery, now) -> None:
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since__isnull=False).update(failing_since=None)

    @staticmethod
    def failed(delivery: WebhookDelivery, now, status: int | None) -> None:
        WebhookDelivery.objects.filter(pk=delivery.pk, claimed_by=delivery.claimed_by).update(response_status=status)
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, failing_since__isnull=True).update(failing_since=now)


def disable_failing(now) -> int:
    """Endpoints that have accepted nothing for PORTAL_WEBHOOK_DISABLE_AFTER_DAYS: disabled, and staff told once."""
    days = settings.PORTAL_WEBHOOK_DISABLE_AFTER_DAYS
    failing = WebhookEndpoint.objects.filter(
        disabled_at__isnull=True, failing_since__lte=now - datetime.timedelta(days=days)
    )
    disabled = 0
    for endpoint in failing:
        reason = f"it accepted no delivery for {days} days"
        if endpoints.disable(endpoint, reason, actor="keydrop", now=now):  # only the sweep that disabled it tells
            disabled += 1
            tell_staff(endpoint, days)
    return disabled


def tell_staff(endpoint: WebhookEndpoint, days: int) -> None:
    to = list(settings.PORTAL_STAFF_EMAILS) or [address for _, address in settings.ADMINS]
    if not to:
        return
    last = endpoint.deliveries.exclude(last_error="").order_by("-pk").values_list("last_error", flat=True).first()
    context = {"endpoint": endpoint, "days": days, "last_error": last or "", "base_url": settings.PORTAL_BASE_URL}
    try:
        emails.send("webhook-disabled", to, context)
    except Exception as exc:  # the endpoint stays disabled; the admin shows it
        log.warning("the webhook-disabled email for endpoint %s failed: %s", endpoint.pk, type(exc).__name__)


def send_again(deliveries, now) -> int:
    """Staff's Send again: scheduled now, whatever happened before; the same webhook-id goes out.
    One a sweep holds right now is left to it: taking its claim away could send it twice."""
    free = WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).filter(outbox.unclaimed(now))
    return free.update(state=outbox.State.SCHEDULED, not_before=now, claimed_by="", claimed_until=None, state_reason="")


def sweep(*, time_budget: float = 50.0) -> dict:
    now = timezone.now()
    planned = plan(now)
    report = Webhooks().sweep(time_budget=time_budget).as_dict()
    report.update(planned=planned, disabled=disable_failing(timezone.now()))
    return report
