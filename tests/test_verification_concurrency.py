"""Counters under real concurrency: racing requests on separate database connections.

Run on SQLite by `make test` and on PostgreSQL by CI; the claims hold on both because every
counter moves through a conditional UPDATE, not read-modify-write.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from keys.models import Credential
from tests.flows import last_code, submit, wrong_code

pytestmark = pytest.mark.django_db(transaction=True)


def race(count, action):
    """Run `action` in `count` threads released at the same instant; each has its own connection."""
    barrier = threading.Barrier(count)

    def worker(index):
        try:
            barrier.wait()
            return action(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


@pytest.fixture
def pending(institution):
    response, verification = submit(Client(), institution)
    assert response.status_code == 302
    return verification


def post_code(verification, code):
    return Client().post(f"/s/{verification.public_id}/", {"code": code}).status_code


def test_twenty_concurrent_wrong_codes_count_exactly_five(pending):
    wrong = wrong_code(last_code())
    statuses = race(20, lambda i: post_code(pending, wrong))
    assert statuses == [400] * 20
    pending.refresh_from_db()
    assert pending.wrong_attempts == 5
    assert pending.locked_at is not None
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.LOCKED and credential.secret is None


def test_ten_concurrent_right_codes_verify_exactly_once(pending, monkeypatch):
    right = last_code()
    activations = []
    original = Credential.activate

    def counting_activate(self, *args, **kwargs):
        activations.append(self.pk)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Credential, "activate", counting_activate)
    statuses = race(10, lambda i: post_code(pending, right))
    assert activations == [pending.credential_id]
    # Every racer lands on the receipt: the one that verified, and the nine that found it verified.
    assert statuses == [302] * 10
    pending.refresh_from_db()
    assert pending.wrong_attempts == 0
    assert Credential.objects.get().status == Credential.Status.ACTIVE


def test_concurrent_re_sends_never_exceed_three(pending):
    from django.core import mail

    statuses = race(8, lambda i: Client().post(f"/s/{pending.public_id}/new-code/").status_code)
    assert statuses == [302] * 8
    pending.refresh_from_db()
    assert pending.codes_sent == 4
    assert len(mail.outbox) == 4
