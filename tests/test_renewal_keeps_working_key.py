"""Renewal that cannot lose a working key.

| the newer key                                   | the older key                                                   |
|-------------------------------------------------|-----------------------------------------------------------------|
| verified, Canvas not yet sure                   | stays active, keeps its reminders                               |
| rejected by Canvas                              | stays active, keeps its reminders; nothing is superseded        |
| works, and outlives the older key               | superseded, usable until its own date, its reminders stop       |
| works, but expires before the older key         | superseded, usable, and its reminders keep going to its lapse   |

Staff's final reminder says when an older key still works, and when no newer key outlives it.
"""

import datetime

import pytest
from django.core import mail

from keys.models import Credential, ReminderNotice
from keys.outcomes import Verdict
from keys.tasks import send_reminders
from tests.factories import canvas_says, tracked_credential, works

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
START = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


@pytest.fixture
def older(institution, time_machine):
    time_machine.move_to(START, tick=False)
    key = tracked_credential(institution=institution, lifetime_days=365, now=START)
    works(key, START)
    return key


def renew(institution, *, days_later: int, lifetime_days: int):
    at = START + datetime.timedelta(days=days_later)
    return tracked_credential(institution=institution, lifetime_days=lifetime_days, now=at), at


def scheduled(credential):
    return credential.reminders.filter(state=ReminderNotice.State.SCHEDULED).count()


def test_a_newer_key_canvas_is_not_sure_about_replaces_nothing_yet(older, institution):
    newer, at = renew(institution, days_later=300, lifetime_days=365)
    canvas_says(newer, Verdict.inconclusive("Instructure asked us to slow down (HTTP 429)."), now=at)
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE and scheduled(older) == 6


def test_a_rejected_newer_key_never_supersedes(older, institution):
    newer, at = renew(institution, days_later=300, lifetime_days=365)
    canvas_says(newer, Verdict.rejected("Instructure did not accept this Client ID and Secret."), now=at)
    newer.refresh_from_db()
    older.refresh_from_db()
    assert newer.status == Credential.Status.REJECTED and scheduled(newer) == 0
    assert older.status == Credential.Status.ACTIVE and older.superseded_by is None and scheduled(older) == 6


def test_a_working_newer_key_that_outlives_the_older_one_stops_its_reminders(older, institution):
    newer, at = renew(institution, days_later=300, lifetime_days=365)
    works(newer, at)
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED and older.superseded_by == newer
    assert older.is_usable(at) and scheduled(older) == 0


def test_a_shorter_lived_newer_key_supersedes_but_the_older_keys_lapse_is_still_announced(
    older, institution, time_machine
):
    newer, at = renew(institution, days_later=300, lifetime_days=7)  # a one-week key, by mistake
    works(newer, at)
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED and scheduled(older) == 6

    time_machine.move_to(newer.expires_at - datetime.timedelta(days=3), tick=False)
    send_reminders()
    [staff] = [m for m in mail.outbox if m.to == ["ops@partner.example"]]
    assert newer.masked_client_id in staff.body and "expires in 3 days" in staff.subject
    assert f"An older key, {older.masked_client_id}, still works until {older.expires_on():%-d %B %Y}" in staff.body

    time_machine.move_to(newer.expires_at + datetime.timedelta(minutes=1), tick=False)
    send_reminders()  # the newer key's own lapse notice, on its day
    mail.outbox.clear()
    time_machine.move_to(older.expires_at - datetime.timedelta(days=3), tick=False)
    send_reminders()
    customer = [m for m in mail.outbox if m.to == [institution.contacts.get().email]]
    assert customer and older.masked_client_id in customer[-1].body, "the older key's lapse is announced"
    [staff] = [m for m in mail.outbox if m.to == ["ops@partner.example"]]
    assert "no newer working key outlives it" in staff.body and newer.masked_client_id in staff.body


def test_a_lapsing_key_with_no_older_one_says_nothing_about_one(institution, time_machine):
    time_machine.move_to(START, tick=False)
    only = tracked_credential(institution=institution, lifetime_days=30, now=START)
    works(only, START)
    time_machine.move_to(only.expires_at - datetime.timedelta(days=1), tick=False)
    send_reminders()
    [staff] = [m for m in mail.outbox if m.to == ["ops@partner.example"]]
    assert "still works" not in staff.body and "no newer key has been verified" in staff.body


def test_the_pipeline_gets_the_key_that_works_until_the_newer_one_is_confirmed(older, institution, time_machine):
    import io

    from django.core.management import call_command

    def exported():
        out = io.StringIO()
        call_command(
            "export_credential", "--institution", institution.slug, "--format", "json", stdout=out, stderr=io.StringIO()
        )
        return out.getvalue()

    newer, at = renew(institution, days_later=300, lifetime_days=365)
    time_machine.move_to(at, tick=False)
    canvas_says(newer, Verdict.inconclusive("Instructure asked us to slow down (HTTP 429)."), now=at)
    assert older.client_id in exported()
    works(newer, at)
    assert newer.client_id in exported()
    canvas_says(newer, Verdict.rejected("Instructure did not accept this Client ID and Secret."), now=at)
    assert older.client_id in exported(), "a newer key Canvas now refuses comes after one that works"
