"""Which reminders a credential gets: Credential.reminder_plan(now), a pure function of the row."""

import datetime

import pytest

from keys import kinds
from keys.models import Credential, Institution, ReminderNotice
from tests.factories import tracked_credential, works

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def credential(created_on=datetime.date(2026, 11, 23), lifetime="1y", expires_on=None, verified_at=NOW):
    institution = Institution(name="Example", slug="example")
    spec = kinds.DAP
    expires_on = expires_on or spec.expiry_date(lifetime, created_on, None)
    return Credential(
        institution=institution,
        kind="dap",
        key_created_on=created_on if lifetime != kinds.EXACT_DATE else None,
        expires_at=kinds.start_of_day(expires_on, datetime.UTC),
        verified_at=verified_at,
    )


def offsets(plan, skipped=False):
    return [offset for offset, due, skip in plan if bool(skip) == skipped]


def test_a_one_year_key_gets_every_reminder_and_the_lapse_notice():
    assert offsets(credential().reminder_plan(NOW)) == [30, 14, 7, 3, 1, 0]


def test_a_one_week_key_gets_no_reminder_longer_than_its_life():
    assert offsets(credential(lifetime="1w").reminder_plan(NOW)) == [7, 3, 1, 0]


def test_a_one_day_key_gets_the_one_day_reminder_at_once_and_the_lapse_notice():
    plan = credential(lifetime="1d").reminder_plan(NOW)
    assert offsets(plan) == [1, 0]
    one_day = plan[0]
    assert one_day[1] <= NOW  # due already: the sweep sends it on its next run


def test_reminders_due_to_each_day_before_expiry_at_the_start_of_the_day():
    plan = dict((offset, due) for offset, due, _ in credential().reminder_plan(NOW))
    assert plan[0] == datetime.datetime(2027, 11, 23, tzinfo=UTC)
    assert plan[30] == datetime.datetime(2027, 10, 24, tzinfo=UTC)
    assert plan[1] == datetime.datetime(2027, 11, 22, tzinfo=UTC)


def test_reminders_already_past_at_verification_are_skipped_not_sent_late():
    # A six-month key created in June and submitted now, 13 days before it expires.
    key = credential(created_on=datetime.date(2026, 6, 6), lifetime="6m")  # expires 2026-12-06
    plan = key.reminder_plan(NOW)
    assert offsets(plan, skipped=True) == [30, 14]
    assert offsets(plan) == [7, 3, 1, 0]


def test_of_reminders_due_within_the_last_day_only_the_nearest_is_kept():
    key = credential(created_on=datetime.date(2026, 11, 17), lifetime="1w")  # expires 2026-11-24
    plan = key.reminder_plan(NOW)
    assert offsets(plan, skipped=True) == [7, 3]
    assert offsets(plan) == [1, 0]


def test_an_exact_date_counts_its_lifetime_from_verification():
    key = credential(lifetime=kinds.EXACT_DATE, expires_on=datetime.date(2026, 12, 3))
    assert offsets(key.reminder_plan(NOW)) == [7, 3, 1, 0]


def test_a_credential_without_a_date_gets_no_reminders():
    key = credential()
    key.expires_at = None
    assert key.reminder_plan(NOW) == []


def test_partners_can_change_the_offsets(settings):
    settings.PORTAL_REMINDER_OFFSETS_DAYS = [60, 10]
    assert offsets(credential().reminder_plan(NOW)) == [60, 10, 0]


@pytest.mark.django_db
def test_planning_is_idempotent():
    key = tracked_credential(now=NOW)
    assert ReminderNotice.objects.filter(credential=key).count() == 6
    ReminderNotice.objects.plan_for(key, NOW)
    assert ReminderNotice.objects.filter(credential=key).count() == 6


@pytest.mark.django_db
def test_a_newer_key_that_works_and_outlives_the_older_one_cancels_its_reminders_and_leaves_it_usable():
    old = tracked_credential(now=NOW)
    new = tracked_credential(institution=old.institution, now=NOW + datetime.timedelta(days=300))
    works(new, NOW + datetime.timedelta(days=300))
    old.refresh_from_db()
    assert old.status == Credential.Status.SUPERSEDED
    assert old.superseded_by == new
    assert old.is_usable(NOW + datetime.timedelta(days=300))
    assert set(old.reminders.values_list("state", flat=True)) == {ReminderNotice.State.CANCELLED}
    assert set(new.reminders.values_list("state", flat=True)) == {ReminderNotice.State.SCHEDULED}
