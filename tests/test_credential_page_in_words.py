"""The credential's page and the outbox rows staff open, in words: no raw code, every field labelled,
every moment in one format in the institution's time zone (keys/display.py), help text on each outbox field."""

import datetime
import re

import pytest
from django.utils import timezone

from keys.admin import outbox as admin_outbox
from keys.models import CheckAlert, CredentialCheck, ReminderNotice
from tests.factories import CredentialFactory, InstitutionFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
DJANGO_DEFAULT_MOMENT = re.compile(r"\b(a\.m\.|p\.m\.|midnight|noon)|\b[A-Z][a-z]{2}\. \d{1,2}, \d{4}")


@pytest.fixture
def chicago_key():
    institution = InstitutionFactory(name="Prairie College", time_zone="America/Chicago")
    credential = CredentialFactory(institution=institution, lifetime="1y", last_check_at=timezone.now())
    CredentialCheck.objects.create(
        credential=credential, trigger=CredentialCheck.Trigger.COMMAND, outcome="works", reason="Canvas accepted it."
    )
    return credential


def test_the_credential_page_has_no_raw_code_and_one_format_for_every_moment(alice, chicago_key):
    page = signed_in(alice).get(f"/admin/keys/credential/{chicago_key.pk}/change/").content.decode()
    assert "Lifetime chosen in Canvas:" in page and ">1 year<" in page
    assert ">1y<" not in page and "'exact'" not in page
    assert "check_credentials" not in page and "Run by staff from the command line" in page
    assert "Canvas url" not in page and "Not needed for a Canvas Data 2 key" in page
    assert not DJANGO_DEFAULT_MOMENT.search(page), DJANGO_DEFAULT_MOMENT.search(page)
    local = timezone.localtime(chicago_key.verified_at, chicago_key.institution.tz)
    assert f"{local:%Y-%m-%d %H:%M} {local.tzname()}" in page  # the institution's zone, not the portal's
    assert "UTC)" in page  # the moment the key stops, in UTC too


def outbox_rows(credential):
    now = timezone.now()
    reminder = ReminderNotice.objects.create(
        credential=credential, offset_days=7, due_at=now, not_before=now, last_error="SMTPServerDisconnected"
    )
    alert = CheckAlert.objects.create(credential=credential, topic="failing", episode=now, reason="Refused.")
    return {"remindernotice": reminder, "checkalert": alert, "credentialcheck": credential.checks.get()}


def test_each_outbox_row_explains_every_field(alice, chicago_key):
    client = signed_in(alice)
    for name, row in outbox_rows(chicago_key).items():
        page = client.get(f"/admin/keys/{name}/{row.pk}/change/").content.decode()
        words = admin_outbox.FIELDS[type(row)]
        for label, help_text in words.values():
            assert f"{label}:" in page, (name, label)
            assert help_text in page or help_text.replace("'", "&#x27;") in page, (name, help_text)
        assert not DJANGO_DEFAULT_MOMENT.search(page), (name, DJANGO_DEFAULT_MOMENT.search(page))
        assert client.get(f"/admin/keys/{name}/").status_code == 200


def test_outbox_rows_are_read_only(alice, chicago_key):
    reminder = outbox_rows(chicago_key)["remindernotice"]
    client = signed_in(alice)
    client.post(f"/admin/keys/remindernotice/{reminder.pk}/change/", {"state": "sent"})
    assert client.post(f"/admin/keys/remindernotice/{reminder.pk}/delete/", {"post": "yes"}).status_code == 403
    reminder.refresh_from_db()
    assert reminder.state == "scheduled" and reminder.due_at < timezone.now() + datetime.timedelta(minutes=1)
