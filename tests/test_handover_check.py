"""The check at hand-over: after the code is verified, the receipt says whether Canvas accepted the key.

| at hand-over Canvas says | the credential                                   | the receipt                          |
|--------------------------|--------------------------------------------------|--------------------------------------|
| (before verification)    | is never sent to Canvas                          |                                      |
| works                    | active; takes over from the older key            | "works", with the region             |
| rejected: the key is     | status rejected, secret purged at once, no       | what was wrong, and "Submit the key  |
|   wrong (id, secret)     | reminders, never supersedes, staff not emailed   | again"                               |
| rejected: fix in Canvas  | needs a fix in Canvas: kept sealed, not usable   | what to change, and "Check again"    |
|   (Off, scopes, …)       | (tests/test_needs_fix_in_canvas.py)              |                                      |
| inconclusive             | active, checked again with back-off; takes over  | "inconclusive" and why: we will      |
|                          | only once a retry says it works                  | check shortly                        |
"""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from keys import kinds
from keys.models import Credential, ReminderNotice
from keys.tasks import run_live_checks
from tests.factories import CredentialFactory
from tests.fakes import FakeKey
from tests.flows import VALID_DAP_CLIENT_ID, VALID_DAP_SECRET, VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, last_code, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


@pytest.fixture
def older(institution):
    """The key the institution handed over last year, still working."""
    return CredentialFactory(
        institution=institution,
        submitted_at=timezone.now() - datetime.timedelta(days=300),
        expires_at=timezone.now() + datetime.timedelta(days=65),
    )


def hand_over(client, institution, **overrides):
    """Submit, enter the emailed code, and return (receipt page, credential)."""
    response, verification = submit(client, institution, **overrides)
    assert response.status_code == 302
    confirmed = client.post(f"/s/{verification.public_id}/", {"code": last_code()})
    assert confirmed.status_code == 302
    receipt = client.get(f"/s/{verification.public_id}/receipt/")
    assert receipt.status_code == 200
    return receipt.content.decode(), Credential.objects.get(pk=verification.credential_id)


def staff_mail():
    return [message for message in mail.outbox if message.to == ["ops@partner.example"]]


def test_nothing_is_sent_to_canvas_before_the_code_is_verified(client, institution, fake_dap):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    response, verification = submit(client, institution)
    code = last_code()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    client.post(f"/s/{verification.public_id}/", {"code": wrong})
    client.get(f"/s/{verification.public_id}/receipt/")
    run_live_checks()  # the schedule leaves pending submissions alone too
    assert fake_dap.served == []
    client.post(f"/s/{verification.public_id}/", {"code": code})
    assert len(fake_dap.served) == 1


def test_a_working_key_says_works_on_the_receipt_and_takes_over(client, institution, fake_dap, older):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    receipt, credential = hand_over(client, institution)
    assert "works: Canvas accepted the key" in receipt
    assert "<dt>Region</dt><dd>us-east-1</dd>" in receipt
    assert credential.status == Credential.Status.ACTIVE and not credential.handover_check_pending
    assert credential.checks.get().trigger == "handover"
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED and older.superseded_by == credential
    [notice] = staff_mail()
    assert "Canvas check: works. Instructure accepted the Client ID and Secret" in notice.body
    assert "Canvas check: <strong>works</strong>. Instructure accepted" in notice.alternatives[0][0]


def test_a_wrong_secret_is_refused_on_the_receipt_with_the_reason_and_replaces_nothing(
    client, institution, fake_dap, older
):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    receipt, credential = hand_over(client, institution, client_secret=VALID_DAP_SECRET[:-1] + "Z")
    assert "Canvas did not accept this key" in receipt
    assert "the secret may be mistyped, or the key was deleted, regenerated or has expired" in receipt
    assert "Submit the key again" in receipt and f'href="{institution.intake_path("dap")}"' in receipt
    assert "has your key" not in receipt
    assert credential.status == Credential.Status.REJECTED
    assert credential.secret is None and credential.secret_purged_at is not None
    assert not credential.reminders.filter(state=ReminderNotice.State.SCHEDULED).exists()
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE and older.superseded_by is None
    assert older.reminders.filter(state=ReminderNotice.State.CANCELLED).count() == 0
    assert staff_mail() == []  # staff see it in the admin; nothing new was handed over
    assert not Credential.objects.usable().filter(pk=credential.pk).exists()


def test_a_secret_of_one_character_is_refused_at_the_receipt(client, institution, fake_dap):
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    receipt, credential = hand_over(client, institution, client_secret="x")
    assert "Canvas did not accept this key" in receipt
    assert credential.status == Credential.Status.REJECTED


def test_a_developer_key_that_is_still_off_is_kept_with_switch_it_on(client, institution, fake_canvas, settings):
    setup_uri = dict(kinds.developer_key_setup(institution.slug)["redirect_uris"])["United States"]
    scopes = [scope for scope, _ in settings.PORTAL_DEVELOPER_KEY["scopes"]]
    fake_canvas.add_key(
        VALID_DEV_KEY_ID, FakeKey(secret=VALID_DEV_KEY_SECRET, redirect_uris=[setup_uri], scopes=scopes, on=False)
    )
    receipt, credential = hand_over(client, institution, kind="developer_key", canvas_url=fake_canvas.url)
    assert "switch it On in Admin → Developer Keys" in receipt
    assert credential.status == Credential.Status.NEEDS_FIX and credential.secret is not None


def test_an_unclear_answer_says_inconclusive_and_a_retry_with_back_off_settles_it(
    client, institution, fake_dap, older, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    fake_dap.mode = "503"
    receipt, credential = hand_over(client, institution)
    assert "We will check again shortly" in receipt
    assert ">inconclusive: Instructure&#x27;s login service had an error (HTTP 503)" in receipt
    assert ">checking<" not in receipt
    [notice] = staff_mail()
    assert "Canvas check: inconclusive. Instructure's login service had an error (HTTP 503)" in notice.body
    assert "no clear answer" not in notice.body
    assert credential.status == Credential.Status.ACTIVE and credential.handover_check_pending
    assert credential.next_check_at == start + datetime.timedelta(minutes=1)
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE  # not replaced by a key nobody has seen work

    time_machine.move_to(start + datetime.timedelta(seconds=59), tick=False)
    run_live_checks()
    assert credential.checks.count() == 1, "not before its back-off"
    time_machine.move_to(start + datetime.timedelta(minutes=1), tick=False)
    run_live_checks()
    credential.refresh_from_db()
    assert credential.checks.count() == 2 and credential.next_check_at == start + datetime.timedelta(minutes=6)

    fake_dap.mode = None
    time_machine.move_to(start + datetime.timedelta(minutes=6), tick=False)
    run_live_checks()
    credential.refresh_from_db()
    assert credential.last_check_outcome == "works" and not credential.handover_check_pending
    assert credential.checks.first().trigger == "retry"
    older.refresh_from_db()
    assert older.status == Credential.Status.SUPERSEDED
    assert (
        "works: Canvas accepted the key"
        in client.get(f"/s/{credential.verification.public_id}/receipt/").content.decode()
    )


def test_a_retry_that_is_refused_emails_the_contacts_to_submit_again(
    client, institution, fake_dap, older, time_machine
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    fake_dap.mode = "429"
    receipt, credential = hand_over(client, institution)
    fake_dap.mode = None  # now Instructure answers: and this key does not exist
    mail.outbox.clear()
    time_machine.move_to(start + datetime.timedelta(minutes=1), tick=False)
    run_live_checks()
    credential.refresh_from_db()
    assert credential.status == Credential.Status.REJECTED and credential.secret is None
    customer = [m for m in mail.outbox if m.to == ["charlie@example.edu"]]
    assert len(customer) == 1 and "was not accepted by Canvas" in customer[0].subject
    assert institution.intake_url("dap") in customer[0].body
    assert len(staff_mail()) == 1
    older.refresh_from_db()
    assert older.status == Credential.Status.ACTIVE
    run_live_checks()
    assert len(mail.outbox) == 2, "told once"


def test_the_receipt_is_quick_when_canvas_is_slow(client, institution, fake_dap, settings):
    settings.PORTAL_HANDOVER_CHECK_SECONDS = 0.3
    fake_dap.add_key(VALID_DAP_CLIENT_ID, VALID_DAP_SECRET)
    fake_dap.mode = "slow"
    receipt, credential = hand_over(client, institution)
    assert ">inconclusive: " in receipt and ">checking<" not in receipt
    check = credential.checks.get()
    assert check.outcome == "inconclusive" and check.latency_ms < 2000
