"""Verification outcomes land in the audit trail, named by the customer contact's masked address."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from keys.models import AuditEvent
from tests.flows import last_code, submit, wrong_code

pytestmark = pytest.mark.django_db


def test_a_verified_submission_is_recorded(institution, charlie):
    client = Client()
    response, verification = submit(client, institution)
    client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.credential) == ("verified", "c•••@example.edu", verification.credential)
    assert event.institution == institution


def test_a_submission_locked_after_wrong_codes_is_recorded_once(institution, charlie):
    client = Client()
    response, verification = submit(client, institution)
    wrong = wrong_code(last_code())
    for _ in range(7):
        client.post(f"/s/{verification.public_id}/", {"code": wrong})
    event = AuditEvent.objects.get()
    assert (event.action, event.actor) == ("locked", "c•••@example.edu")
    assert event.detail == "Too many wrong codes"


def test_a_submission_locked_by_its_window_is_recorded(institution, charlie):
    client = Client()
    response, verification = submit(client, institution)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
        client.get(f"/s/{verification.public_id}/")
        client.get(f"/s/{verification.public_id}/")
    event = AuditEvent.objects.get()
    assert event.action == "locked" and event.detail == "Verification window ran out"


def test_wrong_codes_alone_record_nothing(institution, charlie):
    client = Client()
    response, verification = submit(client, institution)
    client.post(f"/s/{verification.public_id}/", {"code": wrong_code(last_code())})
    assert not AuditEvent.objects.exists()
