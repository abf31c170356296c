"""The admin index: the counts staff look at first and an expiry timeline as long as the longest
key lifetime (13 months and "later"), in a few aggregate queries."""

import dataclasses
import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys.admin import dashboard
from keys.models import Credential, CredentialQuerySet
from tests.factories import CredentialFactory
from tests.staff_cast import queries_to_load, signed_in

pytestmark = pytest.mark.django_db


def in_days(days):
    return timezone.now() + datetime.timedelta(days=days, hours=1)


def tile_counts(now=None):
    return {tile.label: tile.count for tile in dashboard.tiles(now or timezone.now())}


def test_the_counts_cover_active_expiring_lapsed_pending_locked_awaiting_and_never_handed_over(institution):
    CredentialFactory(expires_at=in_days(200))
    CredentialFactory(expires_at=in_days(10))
    CredentialFactory(expires_at=in_days(-5))  # lapsed, nothing newer
    CredentialFactory(status=Credential.Status.PENDING, verified_at=None)
    CredentialFactory(status=Credential.Status.LOCKED, verified_at=None, locked_at=timezone.now(), secret=None)
    CredentialFactory(
        status=Credential.Status.LOCKED,
        verified_at=None,
        locked_at=timezone.now() - datetime.timedelta(days=2),
        secret=None,
    )
    CredentialFactory(status=Credential.Status.AWAITING_SECRET, secret=None, key_type="partner")
    assert tile_counts() == {
        "Active": 2,
        "Expiring within 30 days": 1,
        "Lapsed, no renewal": 1,
        "Failing": 0,
        "Pending verification": 1,
        "Locked today": 1,
        "Awaiting partner secret": 1,
        # Example University has no key; the pending and the two locked submissions' institutions
        # never got one verified.
        "Never handed over": 4,
        "Shared keys": 0,
    }


def test_the_awaiting_authorization_tile_appears_only_once_that_state_exists(monkeypatch):
    assert "Awaiting authorization" not in tile_counts()
    monkeypatch.setattr(CredentialQuerySet, "awaiting_authorization", lambda self: self.filter(kind="developer_key"))
    CredentialFactory(kind="developer_key", client_id="170000000000123")
    assert tile_counts()["Awaiting authorization"] == 1


def test_the_never_handed_over_tile_leads_to_those_institutions(bob, institution):
    CredentialFactory(expires_at=in_days(100))  # its institution has a key
    tile = next(tile for tile in dashboard.tiles(timezone.now()) if tile.label == "Never handed over")
    listed = signed_in(bob).get(tile.url).context["cl"].result_list
    assert tile.count == 1 and [i.pk for i in listed] == [institution.pk]


def test_a_renewed_key_is_not_counted_as_lapsed(institution):
    now = timezone.now()
    CredentialFactory(
        institution=institution,
        status=Credential.Status.EXPIRED,
        expires_at=in_days(-5),
        submitted_at=now - datetime.timedelta(days=370),
    )
    CredentialFactory(institution=institution, expires_at=in_days(300))
    assert tile_counts()["Lapsed, no renewal"] == 0


def test_the_timeline_has_thirteen_months_and_later_of_active_keys_linking_to_the_filtered_list():
    now = timezone.now()
    this_month_end = dashboard.add_months(dashboard.upcoming_months(now)[0], 1) - datetime.timedelta(hours=2)
    if this_month_end > now:
        CredentialFactory(expires_at=this_month_end)
    third = dashboard.upcoming_months(now)[2] + datetime.timedelta(days=3)
    CredentialFactory.create_batch(3, expires_at=third)
    CredentialFactory(expires_at=third, status=Credential.Status.REVOKED, secret=None)  # not active: not counted
    timeline = dashboard.timeline(now)
    assert len(timeline.bars) == 14 and timeline.bars[-1].month_label == "Later"
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
    assert len(re.findall(r'<a href="/admin/keys/credential/\?status=active&amp;expires_month=', html)) == 14
    assert "<script>" not in html and "style=" not in html[html.index("kd-dashboard") : html.index("</section>")]


def test_staff_without_view_permission_see_no_dashboard(django_user_model):
    nobody = django_user_model.objects.create_user("erin", password="erin-password-123", is_staff=True)
    html = signed_in(nobody).get("/admin/").content.decode()
    assert "Credential health" not in html


def test_nothing_but_a_count_of_pending_submissions_reaches_the_dashboard(bob, institution):
    pending = CredentialFactory(
        institution=institution, status=Credential.Status.PENDING, verified_at=None, expires_at=in_days(10)
    )
    html = signed_in(bob).get("/admin/").content.decode()
    assert pending.masked_client_id not in html
    assert tile_counts()["Expiring within 30 days"] == 0


def test_the_dashboard_costs_five_queries_and_one_per_capability_tile_whatever_the_number_of_credentials(bob):
    client = signed_in(bob)
    client.get("/admin/")
    baseline = queries_to_load(client, "/admin/")
    for days in range(0, 360, 9):
        CredentialFactory(expires_at=in_days(days))
    assert queries_to_load(client, "/admin/") == baseline
    with CaptureQueriesContext(connection) as captured:
        dashboard.tiles(timezone.now()), dashboard.timeline(timezone.now())
    assert len(captured) == 5 + (Credential.objects.awaiting_authorization() is not None)


@pytest.mark.parametrize("value", ["2027-13", "2027-00", "27-01", "٢٠٢٧-٠٣", "2027-3x", "9999-12", "", "2027-03-01"])
def test_parse_month_refuses_anything_but_a_plain_year_and_month(value):
    assert dashboard.parse_month(value, timezone.get_current_timezone()) is None


def test_a_one_year_key_made_today_is_on_the_timeline_and_its_bar_lists_it(bob):
    now = timezone.now()
    key = CredentialFactory(submitted_at=now, expires_at=now + datetime.timedelta(days=365))
    timeline = dashboard.timeline(now)
    bar = next(bar for bar in timeline.bars if bar.count)
    assert bar.month is not None and (bar.month.year, bar.month.month) == (key.expires_at.year, key.expires_at.month)
    assert [c.pk for c in signed_in(bob).get(bar.url).context["cl"].result_list] == [key.pk]


def test_keys_beyond_the_months_shown_are_counted_as_later_and_listed_by_its_bar(bob):
    now = timezone.now()
    far = CredentialFactory(expires_at=now + datetime.timedelta(days=800))  # an exact date, over two years away
    CredentialFactory(expires_at=now + datetime.timedelta(days=100))
    later = dashboard.timeline(now).bars[-1]
    assert later.count == 1 and later.title == "1 active key expires later"
    assert [c.pk for c in signed_in(bob).get(later.url).context["cl"].result_list] == [far.pk]


def test_the_horizon_follows_the_longest_lifetime_a_kind_offers(monkeypatch):
    from keys import kinds

    longer = dataclasses.replace(
        kinds.DAP, lifetimes=(*kinds.DAP.lifetimes, kinds.Lifetime("2y", "2 years", months=24))
    )
    monkeypatch.setitem(kinds.KINDS, "dap", longer)
    assert dashboard.timeline_months() == 25
    assert len(dashboard.timeline(timezone.now()).bars) == 26
