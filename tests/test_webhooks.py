"""Webhooks: a receiver on loopback is told, in a signed POST, within one sweep of a key being verified.

rule                                                     test
-------------------------------------------------------  ---------------------------------------------
the command's last line is the whsec_ signing secret      test_a_new_key_is_told_to_the_receiver_…
signed the Standard Webhooks way (library verifies it)    test_a_new_key_is_told_to_the_receiver_…
only the events asked for; an endpoint hears what follows test_only_the_events_asked_for_…
the URL obeys the outbound guard                          test_the_url_obeys_the_outbound_rules
retried with back-off, the same webhook-id each time      test_a_refused_delivery_is_retried_…
three days of refusals: disabled, staff told              test_an_endpoint_failing_for_three_days_…
Send again                                                test_send_again_…
two racing send_webhooks deliver each event once          tests/test_webhook_races.py
"""

import datetime

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from keys import outbox
from keys.models import AuditEvent, PipelineEvent, WebhookDelivery, WebhookEndpoint
from keys.models.pipelines import SETTLE
from keys.pipelines import webhooks
from tests import factories
from tests.pipelines import Receiver, add_endpoint
from tests.staff_cast import SECRET

T = PipelineEvent.Type


@pytest.fixture
def receiver(settings):
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True  # loopback http, as for the Canvas fakes
    fake = Receiver().start()
    yield fake
    fake.stop()


def later():
    return timezone.now() + SETTLE + datetime.timedelta(seconds=1)


def new_key_verified(institution):
    key = factories.tracked_credential(institution=institution)
    factories.works(key)
    return key


def test_a_new_key_is_told_to_the_receiver_in_a_signed_post_within_one_sweep(institution, receiver, time_machine):
    secret = add_endpoint(receiver.endpoint, T.VERIFIED)
    assert secret.startswith("whsec_")
    key = new_key_verified(institution)
    time_machine.move_to(later())
    call_command("send_webhooks")
    [event] = receiver.verified(secret)
    assert event["type"] == "credential.verified"
    assert event["data"]["institution"] == "example-u" and event["data"]["credential_id"] == key.pk
    headers, body = receiver.received[0]
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    assert SECRET.encode() not in body and secret.encode() not in body
    with pytest.raises(WebhookVerificationError):  # signed with this endpoint's secret, no other
        receiver.verified("whsec_" + "QUJD" * 8)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "sent" and delivery.attempts == 1 and delivery.response_status == 200
    assert AuditEvent.objects.filter(action=AuditEvent.Action.WEBHOOK_ENDPOINT).exists()


def test_only_the_events_asked_for_and_only_those_after_the_endpoint_was_added(credential, receiver, time_machine):
    credential.revoke(timezone.now())  # before the endpoint existed: not its to hear
    secret = add_endpoint(receiver.endpoint, T.REVOKED)
    new_key_verified(factories.InstitutionFactory())  # not an event it asked for
    revoked = factories.CredentialFactory(institution=credential.institution)
    revoked.revoke(timezone.now())
    time_machine.move_to(later())
    webhooks.sweep()
    assert [(e["type"], e["data"]["credential_id"]) for e in receiver.verified(secret)] == [(T.REVOKED, revoked.pk)]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/keydrop",
        "https://10.0.0.7/hooks",
        "https://127.0.0.1/hooks",
        "ftp://x.test/",
        "nonsense",
    ],
)
def test_the_url_obeys_the_outbound_rules(db, url):
    with pytest.raises(Exception, match="does not send webhooks to that address"):
        add_endpoint(url, T.VERIFIED)
    assert not WebhookEndpoint.objects.exists()


def test_a_refused_delivery_is_retried_on_the_back_off_with_the_same_webhook_id(institution, receiver, time_machine):
    secret = add_endpoint(receiver.endpoint, T.VERIFIED)
    new_key_verified(institution)
    receiver.status = 500
    time_machine.move_to(later(), tick=False)
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "scheduled" and delivery.attempts == 1
    assert delivery.last_error == "Refused: HTTP 500" and delivery.response_status == 500
    assert delivery.not_before == timezone.now() + outbox.backoff(1)
    webhooks.sweep()  # not yet
    assert len(receiver.received) == 1
    receiver.status = 200
    time_machine.move_to(delivery.not_before + datetime.timedelta(seconds=1))
    webhooks.sweep()
    delivery.refresh_from_db()
    assert delivery.state == "sent" and delivery.attempts == 2 and len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert Webhook(secret).verify(body, headers)["type"] == T.VERIFIED  # signed afresh, with a current timestamp
    first, second = (headers["webhook-id"] for headers, _ in receiver.received)
    assert first == second  # a receiver drops the repeat of one it already handled


def test_an_endpoint_failing_for_three_days_is_disabled_and_staff_are_told(
    institution, receiver, settings, time_machine
):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]
    add_endpoint(receiver.endpoint, T.VERIFIED)
    new_key_verified(institution)
    receiver.status = 503
    time_machine.move_to(later(), tick=False)
    started = timezone.now()
    webhooks.sweep()
    time_machine.move_to(started + datetime.timedelta(days=3) - datetime.timedelta(minutes=1))
    webhooks.sweep()
    assert WebhookEndpoint.objects.get().enabled and not mail.outbox
    time_machine.move_to(started + datetime.timedelta(days=3, minutes=1))
    webhooks.sweep()
    webhooks.sweep()
    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.enabled and "3 days" in endpoint.disabled_reason
    [email] = mail.outbox
    assert email.to == ["ops@partner.example"] and receiver.endpoint in email.body and "HTTP 503" in email.body
    tried = len(receiver.received)
    new_key_verified(factories.InstitutionFactory())
    time_machine.move_to(later())
    webhooks.sweep()
    assert len(receiver.received) == tried  # nothing more goes to a disabled endpoint


def test_an_endpoint_that_accepts_again_stops_failing(institution, receiver, time_machine):
    add_endpoint(receiver.endpoint, T.VERIFIED)
    new_key_verified(institution)
    receiver.status = 500
    time_machine.move_to(later(), tick=False)
    webhooks.sweep()
    assert WebhookEndpoint.objects.get().failing_since is not None
    receiver.status = 200
    time_machine.move_to(timezone.now() + outbox.backoff(1) + datetime.timedelta(seconds=1))
    webhooks.sweep()
    assert WebhookEndpoint.objects.get().failing_since is None


def test_send_again_sends_a_delivered_event_once_more(institution, receiver, time_machine):
    secret = add_endpoint(receiver.endpoint, T.VERIFIED)
    new_key_verified(institution)
    time_machine.move_to(later())
    webhooks.sweep()
    assert webhooks.send_again(WebhookDelivery.objects.all(), timezone.now()) == 1
    webhooks.sweep()
    assert len(receiver.verified(secret)) == 2 and WebhookDelivery.objects.get().attempts == 2
