"""The customer form's errors in plain words, counted right, and a secret that is not pasted twice.

Rules (intake/held_secrets.py): after an error that is not about the secret, the secret is kept
sealed on the server for HOLD_MINUTES, keyed by the form's nonce, never written into the page; it is
destroyed when the submission is stored, and once its minutes are up.
"""

import datetime

import pytest
from django.utils import timezone

from intake import tasks
from intake.held_secrets import HOLD_MINUTES
from intake.models import HeldSecret
from keys.models import Credential
from tests import factories
from tests.flows import VALID_DAP_SECRET, form_data, last_code, submit, wrong_code

pytestmark = pytest.mark.django_db
FUTURE = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()


@pytest.fixture
def two_contacts(institution):
    factories.AdminContactFactory(institution=institution, email="dora@example.edu")
    return institution


def test_with_two_contacts_a_missing_choice_is_asked_for_in_words(client, two_contacts):
    response = client.post(two_contacts.intake_path(), form_data(client, two_contacts, contact=""))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Choose the admin address we should email your code to." in page
    assert "This field is required" not in page
    assert "There is a problem" in page


def test_every_stock_message_is_replaced_by_words(client, institution):
    data = form_data(client, institution, expiry="", created_on="yesterday", key_type="shared")
    page = client.post(institution.intake_path(), data).content.decode()
    assert "This field is required" not in page and "Select a valid choice" not in page
    assert "Enter a valid date" not in page
    assert "There are 3 problems" in page


def test_one_wrong_code_is_one_problem(client, institution):
    response, verification = submit(client, institution)
    page = client.post(f"/s/{verification.public_id}/", {"code": wrong_code(last_code())}).content.decode()
    assert "There is a problem" in page and "There are" not in page


def test_after_an_error_about_the_date_the_secret_is_not_pasted_again(client, institution):
    data = form_data(client, institution, created_on=FUTURE)
    response = client.post(institution.intake_path(), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert VALID_DAP_SECRET not in page  # kept on the server, never in the page
    assert "We kept the secret you pasted, sealed on our server" in page
    assert 'name="secret_held" value="1"' in page
    held = HeldSecret.objects.get()
    assert VALID_DAP_SECRET.encode() not in bytes(held.secret.ciphertext)
    data.update(created_on=timezone.localdate().isoformat(), client_secret="", secret_held="1")
    assert client.post(institution.intake_path(), data).status_code == 302
    assert Credential.objects.get().secret.reveal() == VALID_DAP_SECRET
    assert not HeldSecret.objects.exists()  # destroyed on use


def test_an_error_about_the_secret_itself_keeps_nothing(client, institution):
    page = client.post(institution.intake_path(), form_data(client, institution, client_secret="two words")).content
    assert not HeldSecret.objects.exists()
    assert b'name="secret_held"' not in page


def test_the_held_secret_is_destroyed_when_its_minutes_are_up(client, institution, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    data = form_data(client, institution, created_on=FUTURE)
    client.post(institution.intake_path(), data)
    time_machine.shift(datetime.timedelta(minutes=HOLD_MINUTES, seconds=1))
    data.update(created_on=timezone.localdate().isoformat(), client_secret="", secret_held="1")
    response = client.post(institution.intake_path(), data)
    assert response.status_code == 400 and "Enter the secret." in response.content.decode()
    tasks.lock_stale_submissions()
    assert not HeldSecret.objects.exists()


def test_another_form_cannot_use_the_held_secret(client, institution):
    client.post(institution.intake_path(), form_data(client, institution, created_on=FUTURE))
    other = form_data(client, institution, client_secret="", secret_held="1")  # a fresh form, its own nonce
    response = client.post(institution.intake_path(), other)
    assert response.status_code == 400 and not Credential.objects.exists()
