"""The admin index: five counts and a twelve-month expiry timeline, in a few aggregate queries."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys import dashboard
from keys.models import Credential
from tests.factories import CredentialFactory
from tests.staff_cast import queries_to_load, signed_in

pytestmark = pytest.mark.django_db


def in_days(days):
    return timezone.now() + datetime.timedelta(days=days, hours=1)


def tile_counts(now=None):
    return {tile.label: tile.count for tile in dashboard.tiles(now or timezone.now())}


def test_the_counts_cover_active_expiring_lapsed_pending_and_locked_today(institution):
    CredentialFactory(expires_at=in_days(200))
    CredentialFactory(expires_at=in_days(10))
    CredentialFactory(expires_at=in_days(-5))  # lapsed, nothing newer
    CredentialFactory(status=Credential.Status.PENDING, verified_at=None)
    CredentialFactory(status=Credential.Status.LOCKED, verified_at=None, locked_at=timezone.now(), secret=None)
    CredentialFactory(status=Credential.Status.LOCKED, verified_at=None, locked_at=timezone.now() - datetime.timedelta(days=2), secret=None)
    assert tile_counts() == {
        "Active": 2,
        "Expiring within 30 days": 1,
        "Lapsed, no renewal": 1,
        "Failing": 0,
        "Pending verification": 1,
        "Locked today": 1,
    }


def test_a_renewed_key_is_not_counted_as_lapsed(institution):
    now = timezone.now()
    CredentialFactory(institution=institution, status=Credential.Status.EXPIRED, expires_at=in_days(-5), submitted_at=now - datetime.timedelta(days=370))
    CredentialFactory(institution=institution, expires_at=in_days(300))
    assert tile_counts()["Lapsed, no renewal"] == 0


def test_the_timeline_has_twelve_months_of_active_keys_linking_to_the_filtered_list():
    now = timezone.now()
    this_month_end = dashboard.add_months(dashboard.upcoming_months(now)[0], 1) - datetime.timedelta(hours=2)
    if this_month_end > now:
        CredentialFactory(expires_at=this_month_end)
    third = dashboard.upcoming_months(now)[2] + datetime.timedelta(days=3)
    CredentialFactory.create_batch(3, expires_at=third)
    CredentialFactory(expires_at=third, status=Credential.Status.REVOKED, secret=None)  # not active: not counted
    timeline = dashboard.timeline(now)
    assert len(timeline.bars) == 12
    assert timeline.bars[2].count == 3
    assert timeline.bars[2].url == f"/admin/keys/credential/?status=active&expires_month={third:%Y-%m}"
    assert timeline.bars[2].height > 0 and timeline.bars[1].height == 0
    assert timeline.bars[0].tone == "urgent" and timeline.bars[5].tone == "later"


def test_a_bar_leads_to_exactly_the_keys_it_counts(bob):
    now = timezone.now()
    month = dashboard.upcoming_months(now)[4]
    expected = {c.pk for c in CredentialFactory.create_batch(2, expires_at=month + datetime.timedelta(days=10))}
    CredentialFactory(expires_at=month + datetime.timedelta(days=40))
    bar = dashboard.timeline(now).bars[4]
    listed = signed_in(bob).get(bar.url).context["cl"].result_list
    assert bar.count == 2 and {c.pk for c in listed} == expected


def test_the_admin_index_shows_the_dashboard_to_staff_who_may_see_credentials(bob):
    CredentialFactory(expires_at=in_days(10))
    html = signed_in(bob).get("/admin/").content.decode()
    assert "Credential health" in html and "<svg" in html
    assert "Expiring within 30 days" in html
    assert "/admin/keys/credential/?status=active&amp;expires_within=30" in html
    assert len(re.findall(r'<a href="/admin/keys/credential/\?status=active&amp;expires_month=', html)) == 12
    assert "<script>" not in html and "style=" not in html[html.index("kd-dashboard"):html.index("</section>")]


def test_staff_without_view_permission_see_no_dashboard(django_user_model):
    nobody = django_user_model.objects.create_user("erin", password="erin-password-123", is_staff=True)
    html = signed_in(nobody).get("/admin/").content.decode()
    assert "Credential health" not in html


def test_nothing_but_a_count_of_pending_submissions_reaches_the_dashboard(bob, institution):
    pending = CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None, expires_at=in_days(10))
    html = signed_in(bob).get("/admin/").content.decode()
    assert pending.masked_client_id not in html
    assert tile_counts()["Expiring within 30 days"] == 0


def test_the_dashboard_costs_three_queries_whatever_the_number_of_credentials(bob):
    client = signed_in(bob)
    client.get("/admin/")
    baseline = queries_to_load(client, "/admin/")
    for days in range(0, 360, 9):
        CredentialFactory(expires_at=in_days(days))
    assert queries_to_load(client, "/admin/") == baseline
    with CaptureQueriesContext(connection) as captured:
        dashboard.tiles(timezone.now()), dashboard.timeline(timezone.now())
    assert len(captured) == 3


@pytest.mark.parametrize("value", ["2027-13", "2027-00", "27-01", "٢٠٢٧-٠٣", "2027-3x", "9999-12", "", "2027-03-01"])
def test_parse_month_refuses_anything_but_a_plain_year_and_month(value):
    assert dashboard.parse_month(value, timezone.get_current_timezone()) is None
