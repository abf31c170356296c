"""The expiry calendar: a private per-user address, iCalendar content, 404 for anything else."""

import datetime
from urllib.parse import urlsplit

import icalendar
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from keys.models import CalendarFeed, Credential
from tests.factories import CredentialFactory
from tests.staff_cast import SECRET, signed_in

pytestmark = pytest.mark.django_db
PAGE = "/admin/keys/credential/calendar/"


def feed_path(feed):
    return f"/calendar/{feed.token}.ics"


def events(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return [component for component in icalendar.Calendar.from_ical(response.content).walk("VEVENT")]


def test_staff_create_their_address_on_the_calendar_page(bob):
    client = signed_in(bob)
    assert b"Create my calendar address" in client.get(PAGE).content
    client.post(PAGE)
    feed = CalendarFeed.objects.get(user=bob)
    assert feed.url().encode() in client.get(PAGE).content


def test_the_feed_has_an_all_day_event_on_each_expiry_date_and_nothing_secret(bob, institution):
    credential = CredentialFactory(
        institution=institution, secret=SECRET, expires_at=timezone.now() + datetime.timedelta(days=40)
    )
    feed = CalendarFeed.objects.create(user=bob)
    response = Client().get(feed_path(feed))
    [event] = events(response)
    assert event.decoded("dtstart") == credential.expires_on()
    assert event.decoded("dtend") == credential.expires_on() + datetime.timedelta(days=1)
    assert "Example University" in str(event["summary"]) and "Canvas Data 2 key" in str(event["summary"])
    assert credential.masked_client_id in str(event["description"])
    assert str(event["uid"]) == f"credential-{credential.pk}@{urlsplit(settings.PORTAL_BASE_URL).hostname}"
    assert SECRET.encode() not in response.content and credential.client_id.encode() not in response.content
    assert institution.intake_token.encode() not in response.content


def test_the_feed_lists_only_credentials_visible_to_staff_with_an_expiry(bob, institution):
    soon = timezone.now() + datetime.timedelta(days=40)
    shown = CredentialFactory(institution=institution, expires_at=soon)
    CredentialFactory(institution=institution, status=Credential.Status.PENDING, verified_at=None, expires_at=soon)
    CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None, expires_at=soon)
    CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123", expires_at=None)
    feed = CalendarFeed.objects.create(user=bob)
    host = urlsplit(settings.PORTAL_BASE_URL).hostname
    assert [str(e["uid"]) for e in events(Client().get(feed_path(feed)))] == [f"credential-{shown.pk}@{host}"]


def test_a_wrong_token_is_a_plain_404(bob):
    CalendarFeed.objects.create(user=bob)
    for token in ["nope", "x" * 64, "%00", "' OR 1=1"]:
        assert Client().get(f"/calendar/{token}.ics").status_code == 404


def test_rotating_the_address_retires_the_old_one(bob):
    feed = CalendarFeed.objects.create(user=bob)
    old = feed_path(feed)
    signed_in(bob).post(PAGE)
    feed.refresh_from_db()
    assert Client().get(old).status_code == 404
    assert Client().get(feed_path(feed)).status_code == 200


def test_the_feed_dies_with_its_owners_staff_access(bob):
    feed = CalendarFeed.objects.create(user=bob)
    bob.is_staff = False
    bob.save()
    assert Client().get(feed_path(feed)).status_code == 404


def test_the_feed_answers_only_reads(bob):
    feed = CalendarFeed.objects.create(user=bob)
    assert Client().post(feed_path(feed)).status_code == 405
