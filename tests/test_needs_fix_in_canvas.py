"""A developer key that Canvas refuses for a reason a setting mends is kept, not destroyed.

| at hand-over Canvas says                        | the key                                    |
|-------------------------------------------------|--------------------------------------------|
| unauthorized_client (Off, other account, test)  | needs a fix in Canvas: sealed, not usable  |
| missing scopes, our redirect URI missing        | needs a fix in Canvas                      |
| unknown id, wrong secret                        | rejected: its secret destroyed at once     |

While it waits: no reminders, never supersedes, checked every hour; **Check again** re-runs the
check; the contacts hear the day before PORTAL_FIX_WINDOW_DAYS (7) end, and then the secret goes.
"""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from keys import kinds
from keys.models import CheckAlert, Credential, ReminderNotice
from keys.tasks import purge_dead_secrets, run_live_checks
from tests.factories import CredentialFactory, developer_key_credential
from tests.fakes import FakeKey
from tests.flows import VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, last_code, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


@pytest.fixture
def key_off(fake_canvas, institution, settings):
    """The customer's key as created, but still Off (new keys are Off until switched On)."""
    uri = dict(kinds.developer_key_setup(institution.slug)["redirect_uris"])["United States"]
    scopes = [scope for scope, _ in kinds.developer_key_setup(institution.slug)["scopes"]]
    return fake_canvas.add_key(
        VALID_DEV_KEY_ID, FakeKey(secret=VALID_DEV_KEY_SECRET, redirect_uris=[uri], scopes=scopes, on=False)
    )


@pytest.fixture
def older(institution, fake_canvas):
    """Last year's developer key of the same institution, still working."""
    return developer_key_credential(
        institution,
        "170000000000999",
        "O" * 64,
        fake_canvas.url,
        submitted_at=timezone.now() - datetime.timedelta(days=300),
    )


def hand_over(client, institution, fake_canvas):
    response, verification = submit(client, institution, kind="developer_key", canvas_url=fake_canvas.url)
    assert response.status_code == 302
    client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    receipt = client.get(f"/s/{verification.public_id}/receipt/")
    return receipt.content.decode(), verification, Credential.objects.get(pk=verification.credential_id)


def check_again(client, institution, credential, verification=None):
    data = {"receipt": verification.public_id} if verification else {}
    return client.post(f"/i/{institution.intake_token}/check-again/{credential.pk}/", data, follow=True)


def test_a_key_that_is_off_at_hand_over_is_kept_sealed_with_what_to_change(client, institution, fake_canvas, key_off):
    receipt, _, credential = hand_over(client, institution, fake_canvas)
    assert credential.status == Credential.Status.NEEDS_FIX
    assert credential.secret is not None and credential.secret_purged_at is None
    assert not credential.is_usable()
    assert credential.fix_by == credential.last_check_at + datetime.timedelta(days=7)
    assert "the key needs a change in Canvas" in receipt and "switch it On" in receipt
    assert "Check again</button>" in receipt and "destroyed" not in receipt.split("we destroy its secret")[0]
    [receipt_email] = [m for m in mail.outbox if "Confirmed by" in m.body]
    assert "kept it, sealed" in receipt_email.body and "submit it again" not in receipt_email.body
    assert not credential.reminders.filter(state=ReminderNotice.State.SCHEDULED).exists()


def test_check_again_after_the_fix_makes_it_the_working_key_without_a_new_hand_over(
    client, institution, fake_canvas, key_off, older
):
    _, verification, credential = hand_over(client, institution, fake_canvas)
    fake_canvas.add_key(
        "170000000000999", FakeKey(secret="O" * 64, redirect_uris=key_off.redirect_uris, scopes=key_off.scopes)
    )
    assert Credential.objects.get(pk=older.pk).status == Credential.Status.ACTIVE  # never superseded while it waits
    key_off.on = True  # the admin switches it On in Canvas
    page = check_again(client, institution, credential, verification).content.decode()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE and credential.last_check_outcome == "works"
    assert "Canvas accepts the key now" in page and "Received" in page
    assert Credential.objects.get(pk=older.pk).status == Credential.Status.SUPERSEDED
    assert credential.reminders.filter(state=ReminderNotice.State.SCHEDULED).exists() or credential.expires_at is None
    assert not credential.check_alerts.filter(state=CheckAlert.State.SCHEDULED).exists()  # no "last day" email


def test_check_again_while_still_off_keeps_the_key_and_says_so(client, institution, fake_canvas, key_off):
    _, _, credential = hand_over(client, institution, fake_canvas)
    page = check_again(client, institution, credential).content.decode()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.NEEDS_FIX and credential.secret is not None
    assert "Canvas still refuses the key" in page
    assert "Check again</button>" in page  # the institution's page offers it too


def test_the_hourly_check_notices_the_fix_by_itself(client, institution, fake_canvas, key_off, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    _, _, credential = hand_over(client, institution, fake_canvas)
    key_off.on = True
    time_machine.move_to(start + datetime.timedelta(minutes=61), tick=False)
    run_live_checks()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE


def test_unfixed_after_the_window_the_contacts_hear_the_day_before_then_the_secret_goes(
    client, institution, fake_canvas, key_off, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    _, _, credential = hand_over(client, institution, fake_canvas)
    contacts = {contact.email for contact in institution.contacts.all()}
    mail.outbox.clear()
    time_machine.move_to(start + datetime.timedelta(days=6, minutes=1), tick=False)
    run_live_checks()
    [last_day] = [m for m in mail.outbox if set(m.to) <= contacts]
    assert "Last day" in last_day.subject and "switch it On" in last_day.body
    assert VALID_DEV_KEY_SECRET not in last_day.body + last_day.alternatives[0][0]
    time_machine.move_to(start + datetime.timedelta(days=7, minutes=1), tick=False)
    assert purge_dead_secrets()["unfixed"] == 1
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REJECTED and credential.secret is None


def test_a_key_needing_a_fix_found_later_emails_the_contacts_once(institution, fake_canvas, key_off):
    # Hand-over inconclusive (Canvas was down); the retry finds it Off: the page cannot say it, an email does.
    credential = developer_key_credential(institution, VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, fake_canvas.url)
    credential.start_tracking(timezone.now())
    Credential.objects.filter(pk=credential.pk).update(next_check_at=timezone.now())
    run_live_checks()
    run_live_checks()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.NEEDS_FIX
    contacts = {contact.email for contact in institution.contacts.all()}
    told = [m for m in mail.outbox if set(m.to) <= contacts]
    assert len(told) == 1 and "needs a fix in Canvas" in told[0].subject


def test_check_again_on_a_key_that_works_checks_nothing(client, institution, fake_canvas):
    credential = CredentialFactory(institution=institution)
    page = check_again(client, institution, credential).content.decode()
    assert "does not wait for a fix in Canvas" in page
    assert fake_canvas.served == []


def test_check_again_is_limited_per_key_and_hour(client, institution, fake_canvas, key_off):
    _, _, credential = hand_over(client, institution, fake_canvas)
    for _ in range(12):
        check_again(client, institution, credential)
    calls = len(fake_canvas.served)
    page = check_again(client, institution, credential).content.decode()
    assert "checked many times this hour" in page and len(fake_canvas.served) == calls
