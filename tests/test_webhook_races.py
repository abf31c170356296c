"""Two `send_webhooks` racing, as two scheduler nodes do, deliver each event to each endpoint once.

Both are real processes on the test database, and the race is forced: each stops right after
reading the due deliveries (``keys.outbox:candidates``) until both have read the very same rows,
then both try to claim and send them. The outbox's conditional UPDATE lets one claim each row; the
receiver on loopback counts every POST by its webhook-id.
"""

import collections
import datetime

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from keys.models import PipelineEvent, WebhookDelivery
from keys.models.pipelines import SETTLE
from keys.pipelines import webhooks
from tests import factories
from tests.pipelines import Receiver, add_endpoint
from tests.processes import line_up, paused_manage

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]
KEYS = 30


def test_two_racing_sweeps_deliver_each_event_once(settings):
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True
    receiver = Receiver().start()
    try:
        secrets = [add_endpoint(receiver.endpoint, PipelineEvent.Type.VERIFIED) for _ in range(2)]
        for _ in range(KEYS):
            key = factories.tracked_credential(institution=factories.InstitutionFactory())
            factories.works(key)
        PipelineEvent.objects.update(at=timezone.now() - SETTLE - datetime.timedelta(seconds=1))
        webhooks.plan(timezone.now())  # both sweeps then read the same due rows
        sweeps = [
            paused_manage("keys.outbox:candidates", "send_webhooks", PORTAL_OUTBOUND_ALLOW_PRIVATE="1")
            for _ in range(2)
        ]
        digests = line_up(sweeps)
        outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
    finally:
        receiver.stop()
    assert len(set(digests)) == 1, "the sweeps were meant to read the very same deliveries before claiming"
    for sweep, (_out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err
    sent = [int(out.split("; sent ")[1].split(";")[0]) for out, _ in outputs]
    assert sum(sent) == 2 * KEYS, outputs
    posts = collections.Counter(headers["webhook-id"] for headers, _ in receiver.received)
    assert len(posts) == 2 * KEYS and max(posts.values()) == 1
    assert WebhookDelivery.objects.filter(state="sent").count() == 2 * KEYS
    # Each POST is genuine: signed with the secret of one of the two endpoints.
    for headers, body in receiver.received:
        assert sum(genuine(secret, headers, body) for secret in secrets) == 1


def genuine(secret: str, headers: dict, body: bytes) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True
