"""Live checks with real concurrent workers, the overlap forced rather than hoped for.

The claim on a key and each host's budget are conditional UPDATEs (or a unique insert), so the
guarantees come from the database, on SQLite as on PostgreSQL.
"""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from keys.checks import live_checks
from keys.models import CredentialCheck, HostCheckBudget
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "Concurrent0Check1Secret"


def in_thread(target, *args):
    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_sweep_while_the_first_is_checking_checks_nothing_twice(fake_dap, settings):
    settings.PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE = 100
    now = timezone.now()
    for _ in range(10):
        key = CredentialFactory(secret=SECRET, next_check_at=now)
        fake_dap.add_key(key.client_id, SECRET)
    reports = {}
    fake_dap.hold_first = True  # the first sweep stops inside its first check, holding its claims
    first = in_thread(lambda: reports.setdefault("first", live_checks.sweep()))
    assert fake_dap.holding.wait(30), "the first sweep never reached Canvas"
    second = in_thread(lambda: reports.setdefault("second", live_checks.sweep()))
    second.join(30)
    assert not second.is_alive() and first.is_alive(), "the second sweep ran while the first held its claims"
    fake_dap.release.set()
    first.join(30)
    assert reports["first"].outcomes["works"] == 10
    assert sum(reports["second"].outcomes.values()) == 0
    assert len(fake_dap.served) == 10
    assert CredentialCheck.objects.count() == 10


def test_workers_taking_a_hosts_budget_at_the_same_moment_never_exceed_it():
    now = timezone.now()
    start = threading.Barrier(4)  # all four try for the same, not yet opened, minute at once
    taken = []

    def worker():
        start.wait(10)
        taken.extend(HostCheckBudget.take("canvas.example.edu", now, 5) for _ in range(4))

    workers = [in_thread(worker) for _ in range(4)]
    for thread in workers:
        thread.join(30)
    assert taken.count(True) == 5 and len(taken) == 16
    assert HostCheckBudget.objects.get(host="canvas.example.edu").used == 5
