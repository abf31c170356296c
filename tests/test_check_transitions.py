"""keys/checks/transitions.py, row by row: a key in each state, each answer, and what follows.

Each row of the module's table is a case below; a row added there without a case here fails
``test_every_row_of_the_table_has_a_case``. "told" lists the alerts the answer plans.
"""

import datetime

import pytest
from django.utils import timezone

from keys.checks import transitions
from keys.checks.transitions import Answer, State
from keys.models import CheckAlert, Credential, ReminderNotice
from keys.outcomes import Verdict
from tests.factories import tracked_credential

pytestmark = pytest.mark.django_db
NOW = timezone.now()
VERDICTS = {
    Answer.WORKS: Verdict.works("Canvas accepts the key."),
    Answer.FIX: Verdict.needs_fix("The key is Off: switch it On."),
    Answer.WRONG: Verdict.rejected("The secret does not match."),
    Answer.UNCLEAR: Verdict.inconclusive("Canvas is limiting our requests (HTTP 403)."),
}


def key_in(state: State) -> Credential:
    key = tracked_credential(now=NOW - datetime.timedelta(days=30))
    if state == State.ON_TRIAL:
        return key
    if state == State.NEEDS_FIX:
        Credential.objects.filter(pk=key.pk).update(
            status=Credential.Status.NEEDS_FIX, handover_check_pending=False, fix_by=NOW + datetime.timedelta(days=3)
        )
        CheckAlert.plan(key, CheckAlert.Topic.FIX_DEADLINE, episode=NOW, reason="Off", now=NOW, not_before=NOW)
        key.cancel_reminders("It needs a fix in Canvas.")
    else:
        failing = NOW - datetime.timedelta(days=2) if state == State.FAILING else None
        Credential.objects.filter(pk=key.pk).update(
            handover_check_pending=False, last_worked_at=NOW - datetime.timedelta(days=3), failing_since=failing
        )
        if failing:
            CheckAlert.plan(key, CheckAlert.Topic.FAILING, episode=failing, reason="refused", now=failing)
    return Credential.objects.get(pk=key.pk)


# (state, answer): (change, status after, secret kept, alerts planned by this answer)
CASES = {
    (State.ON_TRIAL, Answer.WORKS): ("confirmed", "active", True, set()),
    (State.ON_TRIAL, Answer.FIX): ("needs_fix", "needs_fix", True, {"needs_fix", "fix_deadline"}),
    (State.ON_TRIAL, Answer.WRONG): ("rejected", "rejected", False, {"rejected"}),
    (State.ON_TRIAL, Answer.UNCLEAR): ("", "active", True, set()),
    (State.NEEDS_FIX, Answer.WORKS): ("confirmed", "active", True, set()),
    (State.NEEDS_FIX, Answer.FIX): ("", "needs_fix", True, set()),
    (State.NEEDS_FIX, Answer.WRONG): ("rejected", "rejected", False, {"rejected"}),
    (State.NEEDS_FIX, Answer.UNCLEAR): ("", "needs_fix", True, set()),
    (State.WORKING, Answer.WORKS): ("", "active", True, set()),
    (State.WORKING, Answer.FIX): ("failing", "active", True, {"failing"}),
    (State.WORKING, Answer.WRONG): ("failing", "active", True, {"failing"}),
    (State.WORKING, Answer.UNCLEAR): ("", "active", True, set()),
    (State.FAILING, Answer.WORKS): ("recovered", "active", True, {"recovered"}),
    (State.FAILING, Answer.FIX): ("", "active", True, set()),
    (State.FAILING, Answer.WRONG): ("", "active", True, set()),
    (State.FAILING, Answer.UNCLEAR): ("", "active", True, set()),
}


def test_every_row_of_the_table_has_a_case():
    assert set(CASES) == set(transitions.TABLE) == {(s, a) for s in State for a in Answer}


@pytest.mark.parametrize("state, answer", list(CASES), ids=[f"{s.value}-{a.value}" for s, a in CASES])
def test_each_state_and_answer_does_what_the_table_says(state, answer):
    key = key_in(state)
    assert transitions.state_of(key) == state
    alerts_before = set(key.check_alerts.values_list("pk", flat=True))
    change = transitions.apply(key, VERDICTS[answer], NOW)
    expected_change, status, secret_kept, told = CASES[(state, answer)]
    key.refresh_from_db()
    assert (change, key.status, key.secret is not None) == (expected_change, status, secret_kept)
    assert set(key.check_alerts.exclude(pk__in=alerts_before).values_list("topic", flat=True)) == told


def test_a_key_that_needed_a_fix_and_works_gets_its_reminders_back_and_no_last_day_email():
    key = key_in(State.NEEDS_FIX)
    transitions.apply(key, VERDICTS[Answer.WORKS], NOW)
    assert key.reminders.filter(state=ReminderNotice.State.SCHEDULED).exists()
    assert key.check_alerts.get(topic="fix_deadline").state == CheckAlert.State.CANCELLED


def test_an_answer_read_on_the_page_is_not_emailed_again():
    key = key_in(State.ON_TRIAL)
    transitions.apply(key, VERDICTS[Answer.FIX], NOW, seen_on_page=True)
    assert set(key.check_alerts.values_list("topic", flat=True)) == {"fix_deadline"}


def test_ten_days_of_unclear_answers_tell_staff_once():
    key = key_in(State.WORKING)
    Credential.objects.filter(pk=key.pk).update(inconclusive_since=NOW - datetime.timedelta(days=10))
    key.refresh_from_db()
    assert transitions.apply(key, VERDICTS[Answer.UNCLEAR], NOW) == "stuck"
    assert transitions.apply(key, VERDICTS[Answer.UNCLEAR], NOW + datetime.timedelta(hours=1)) == ""


def test_a_key_not_being_checked_only_records_the_answer():
    key = key_in(State.WORKING)
    Credential.objects.filter(pk=key.pk).update(status=Credential.Status.REVOKED)
    key.refresh_from_db()
    assert transitions.state_of(key) is None
    assert transitions.apply(key, VERDICTS[Answer.WRONG], NOW) == ""
    key.refresh_from_db()
    assert key.status == "revoked" and key.last_check_outcome == "rejected"
