"""Verified key release, rule by rule, with the clock moved rather than waited for.

The rules of intake/rules.py: a six-digit code valid 5 minutes; 3 re-sends; 5 wrong entries in
total; 15-minute window; then locked for good with the secret destroyed; one generic message for
wrong, expired and locked.
"""

import datetime
import itertools
import secrets

import pytest
from django.core import mail
from django.utils.html import escape

from intake.models import Verification
from intake.rules import GENERIC_CODE_ERROR
from keys.models import Credential
from tests.flows import last_code, submit, wrong_code

pytestmark = pytest.mark.django_db
START = datetime.datetime(2026, 11, 23, 9, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture
def pending(client, institution, time_machine):
    time_machine.move_to(START, tick=False)
    response, verification = submit(client, institution)
    assert response.status_code == 302
    return verification


def at(time_machine, minutes=0, seconds=0):
    time_machine.move_to(START + datetime.timedelta(minutes=minutes, seconds=seconds), tick=False)


def enter(client, verification, code):
    return client.post(f"/s/{verification.public_id}/", {"code": code})


def resend(client, verification):
    return client.post(f"/s/{verification.public_id}/new-code/")


def test_the_right_code_releases_the_key_and_shows_a_receipt(client, pending, charlie):
    response = enter(client, pending, last_code())
    assert response.status_code == 302
    assert response["Location"] == f"/s/{pending.public_id}/receipt/"
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.ACTIVE
    assert credential.verified_email == "charlie@example.edu"
    receipt = client.get(response["Location"]).content.decode()
    assert "Example University" in receipt
    assert "…4c5d" in receipt
    assert "1a2b3c4d-5e6f" not in receipt
    assert "before" in receipt and credential.expires_on().strftime("%-d %B %Y") in receipt


def test_spaces_and_dashes_in_a_typed_code_are_forgiven(client, pending):
    code = last_code()
    assert enter(client, pending, f" {code[:3]}-{code[3:]} ").status_code == 302
    assert Credential.objects.get().status == Credential.Status.ACTIVE


def test_the_code_works_at_4_59(client, pending, time_machine):
    at(time_machine, minutes=4, seconds=59)
    assert enter(client, pending, last_code()).status_code == 302
    assert Credential.objects.get().status == Credential.Status.ACTIVE


def test_the_code_is_refused_at_5_01_with_the_generic_message(client, pending, time_machine):
    at(time_machine, minutes=5, seconds=1)
    response = enter(client, pending, last_code())
    assert response.status_code == 400
    assert escape(GENERIC_CODE_ERROR) in response.content.decode()
    assert Credential.objects.get().status == Credential.Status.PENDING


@pytest.fixture
def distinct_codes(monkeypatch):
    """Codes that differ from one another, so a voided code can't pass for its successor by luck."""
    numbers = itertools.count(123_456)
    monkeypatch.setattr(secrets, "randbelow", lambda upper: next(numbers) % upper)


def test_a_new_code_voids_the_previous_one(client, distinct_codes, pending):
    first = last_code()
    resend(client, pending)
    second = last_code()
    assert len(mail.outbox) == 2
    assert first != second
    assert enter(client, pending, first).status_code == 400
    assert enter(client, pending, second).status_code == 302


def test_a_re_sent_code_has_its_own_five_minutes(client, pending, time_machine):
    at(time_machine, minutes=4)
    resend(client, pending)
    at(time_machine, minutes=8, seconds=59)
    assert enter(client, pending, last_code()).status_code == 302


def test_a_re_send_does_not_extend_the_15_minute_window(client, pending, time_machine):
    at(time_machine, minutes=12)
    resend(client, pending)
    at(time_machine, minutes=15, seconds=1)
    assert enter(client, pending, last_code()).status_code == 400
    assert Credential.objects.get().status == Credential.Status.LOCKED


def test_three_re_sends_are_allowed_and_the_fourth_is_refused(client, pending):
    for _ in range(3):
        resend(client, pending)
    assert len(mail.outbox) == 4  # the first code and three re-sends
    response = resend(client, pending)
    assert len(mail.outbox) == 4
    page = client.get(response["Location"]).content.decode()
    assert "used all the new codes" in page
    assert enter(client, pending, last_code()).status_code == 302


def test_the_verification_page_counts_down_the_re_sends(client, pending):
    resend(client, pending)
    page = client.get(f"/s/{pending.public_id}/").content.decode()
    assert "2 more times" in page


def test_four_wrong_codes_still_let_the_right_one_in(client, pending):
    right = last_code()
    for _ in range(4):
        assert enter(client, pending, wrong_code(right)).status_code == 400
    assert enter(client, pending, right).status_code == 302


def test_it_locks_after_the_fifth_wrong_code_and_destroys_the_secret(client, pending):
    right = last_code()
    for _ in range(5):
        response = enter(client, pending, wrong_code(right))
        assert escape(GENERIC_CODE_ERROR) in response.content.decode()
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.LOCKED
    assert credential.secret is None
    assert Credential.objects.filter(secret__isnull=False).count() == 0
    sixth = enter(client, pending, right)
    assert sixth.status_code == 400
    assert escape(GENERIC_CODE_ERROR) in sixth.content.decode()
    assert Credential.objects.get().status == Credential.Status.LOCKED
    assert "start a new submission" in sixth.content.decode()


def test_wrong_attempts_count_across_codes(client, pending):
    for _ in range(3):
        enter(client, pending, wrong_code(last_code()))
    resend(client, pending)
    right = last_code()
    for _ in range(2):
        enter(client, pending, wrong_code(right))
    assert enter(client, pending, right).status_code == 400
    assert Credential.objects.get().status == Credential.Status.LOCKED


def test_the_window_is_open_at_14_59(client, pending, time_machine):
    resend_at = 10
    at(time_machine, minutes=resend_at)
    resend(client, pending)
    at(time_machine, minutes=14, seconds=59)
    assert enter(client, pending, last_code()).status_code == 302


def test_the_window_is_closed_at_15_01_and_the_submission_locks_on_access(client, pending, time_machine):
    at(time_machine, minutes=15, seconds=1)
    page = client.get(f"/s/{pending.public_id}/").content.decode()
    assert "This submission is locked" in page
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.LOCKED
    assert credential.secret is None


def test_no_new_code_after_the_window(client, pending, time_machine):
    at(time_machine, minutes=15, seconds=1)
    resend(client, pending)
    assert len(mail.outbox) == 1


def test_wrong_expired_and_locked_give_the_same_message(client, pending, time_machine):
    right = last_code()
    wrong = enter(client, pending, wrong_code(right))
    at(time_machine, minutes=5, seconds=1)
    expired = enter(client, pending, right)
    at(time_machine, minutes=15, seconds=1)
    locked = enter(client, pending, right)
    assert (
        wrong.context["code_error"]
        == expired.context["code_error"]
        == locked.context["code_error"]
        == GENERIC_CODE_ERROR
    )
    assert wrong.status_code == expired.status_code == locked.status_code == 400


@pytest.mark.parametrize(
    "code",
    [
        "١٢٣٤٥٦",
        "１２３４５６",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "",
        "12 34 5",
        "½23456",
        "१२३४५६",
        "123456\x00",
        "x" * 5000,
    ],
)
def test_a_code_that_is_not_six_ascii_digits_is_a_form_error_not_an_attempt(client, pending, code):
    response = enter(client, pending, code)
    assert response.status_code == 400
    assert (
        "Enter the six digits" in response.content.decode()
        or "longer than a code" in response.content.decode()
        or "Null characters" in response.content.decode()
        or "Enter the six digits from the email" in response.content.decode()
    )
    pending.refresh_from_db()
    assert pending.wrong_attempts == 0


def test_non_ascii_digits_matching_the_code_do_not_verify(client, pending):
    right = last_code()
    full_width = "".join(chr(ord("０") + int(digit)) for digit in right)
    assert enter(client, pending, full_width).status_code == 400
    assert Credential.objects.get().status == Credential.Status.PENDING


def test_a_duplicated_code_parameter_is_refused(client, pending):
    right = last_code()
    response = client.post(f"/s/{pending.public_id}/", {"code": [right, right]})
    assert response.status_code == 400
    assert "Enter the code once" in response.content.decode()
    assert Credential.objects.get().status == Credential.Status.PENDING


def test_the_receipt_waits_for_verification(client, pending):
    response = client.get(f"/s/{pending.public_id}/receipt/")
    assert response.status_code == 302
    assert response["Location"] == f"/s/{pending.public_id}/"


def test_a_verified_submission_goes_straight_to_its_receipt(client, pending):
    enter(client, pending, last_code())
    again = enter(client, pending, last_code())
    assert again.status_code == 302 and again["Location"].endswith("/receipt/")


def test_the_code_is_stored_only_as_a_keyed_hash(client, pending):
    code = last_code()
    pending.refresh_from_db()
    assert code not in pending.code_hash
    assert len(pending.code_hash) == 64
    # Keyed: the same code under another submission hashes differently.
    other = Verification(public_id="other")
    assert other._hash(code) != pending.code_hash


def test_the_code_email_never_carries_the_secret_and_says_what_to_do(client, pending):
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert "dap-Secret_value" not in body
        assert "5 minutes" in body
        assert "wasn't you" in body
        assert "Example University" in body
        assert "…4c5d" in body


def test_a_tightened_code_lifetime_is_enforced_and_stated_on_the_page_and_in_the_email(
    client, institution, time_machine, settings
):
    settings.PORTAL_CODE_LIFETIME = datetime.timedelta(minutes=3)
    settings.PORTAL_VERIFICATION_WINDOW = datetime.timedelta(minutes=10)
    time_machine.move_to(START, tick=False)
    response, verification = submit(client, institution)
    message = mail.outbox[0]
    for body in (message.body, message.alternatives[0][0]):
        assert "works for 3 minutes" in body and "within 10 minutes" in body
        assert "5 minutes" not in body
    page = client.get(response["Location"]).content.decode()
    assert "It works for 3 minutes" in page and "5 minutes" not in page
    at(time_machine, minutes=3, seconds=1)
    assert enter(client, verification, last_code()).status_code == 400


def test_the_resend_button_is_disabled_once_the_re_sends_are_used(client, pending):
    for _ in range(3):
        resend(client, pending)
    page = client.get(f"/s/{pending.public_id}/").content.decode()
    assert "ask for a new code 0 more times" in page
    assert 'class="secondary" disabled>Send a new code' in page


def test_a_partner_key_waits_for_the_partner_secret_after_verification(client, institution, time_machine):
    time_machine.move_to(START, tick=False)
    response, verification = submit(client, institution, key_type="partner", client_secret="")
    enter(client, verification, last_code())
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.AWAITING_SECRET
    receipt = client.get(f"/s/{verification.public_id}/receipt/").content.decode()
    assert "one-time password" in receipt


def test_the_schedule_locks_stale_submissions_without_a_visit(pending, time_machine):
    from intake.tasks import lock_stale_submissions

    at(time_machine, minutes=14, seconds=59)
    assert lock_stale_submissions() == 0
    at(time_machine, minutes=15, seconds=1)
    assert lock_stale_submissions() == 1
    assert lock_stale_submissions() == 0
    credential = Credential.objects.get()
    assert credential.status == Credential.Status.LOCKED and credential.secret is None


def test_the_lock_schedule_exists_after_migrate(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="intake.lock_stale_submissions")
    assert schedule.func == "intake.tasks.lock_stale_submissions"
    assert not schedule.args and not schedule.kwargs


def test_the_deadline_is_shown_in_the_institutions_time_zone(client, institution, time_machine):
    institution.time_zone = "America/Chicago"
    institution.save()
    time_machine.move_to(START, tick=False)
    response, verification = submit(client, institution)
    page = client.get(response["Location"]).content.decode()
    assert "03:15 CST" in page
