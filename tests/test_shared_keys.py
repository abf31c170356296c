"""One key, one institution (keys/shared_keys.py).

Each test is one rule: a key another institution holds is flagged on the receipt (never naming it),
staff are emailed once, a Client ID without its region or in other case is the same key, an
institution renewing with its own key is not flagged, the same institution's key for another kind
is, staff see every holder on each page, in a filter and on the dashboard, the customer may confirm
(audited), and a consortium marked by staff (audited) is silent until a new holder arrives.
"""

import pytest
from django.core import mail

from keys import shared_keys
from keys.admin import dashboard
from keys.models import AuditEvent, Credential
from tests.factories import CredentialFactory, InstitutionFactory
from tests.flows import VALID_DAP_CLIENT_ID, last_code, submit
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
UUID = VALID_DAP_CLIENT_ID.split("#")[1]


@pytest.fixture(autouse=True)
def staff_addresses(settings):
    settings.PORTAL_STAFF_EMAILS = ["ops@partner.example"]


def shared_key_mail():
    return [message for message in mail.outbox if "already on file" in message.subject]


def hand_over(client, institution, **overrides):
    response, verification = submit(client, institution, **overrides)
    response = client.post(f"/s/{verification.public_id}/", {"code": last_code()}, follow=True)
    return response, verification


def test_a_key_held_by_another_institution_is_flagged_at_hand_over(client, institution):
    other = InstitutionFactory(name="Northwind College", contacts=["nina@northwind.edu"])
    held = CredentialFactory(institution=other, client_id=VALID_DAP_CLIENT_ID)
    # The same key, its region left out and its letters in upper case.
    response, verification = hand_over(client, institution, client_id=UUID.upper())
    page = response.content.decode()
    assert "This key is already on file for another institution" in page
    assert "Northwind" not in page  # the customer never learns who else holds it
    [notice] = shared_key_mail()
    assert "Example University" in notice.subject
    assert "Northwind College" in notice.body
    assert f"/admin/keys/credential/{held.pk}/change/" in notice.body
    assert f"/admin/keys/credential/{verification.credential_id}/change/" in notice.body
    assert UUID not in notice.body.lower()  # masked, as everywhere


def test_staff_are_emailed_once_however_often_the_code_is_posted(client, institution):
    CredentialFactory(client_id=VALID_DAP_CLIENT_ID)
    response, verification = submit(client, institution)
    code = last_code()
    for _ in range(3):
        client.post(f"/s/{verification.public_id}/", {"code": code})
    shared_keys.flag_at_handover(verification.credential, verification.credential.verified_at)
    assert len(shared_key_mail()) == 1


def test_an_institution_handing_over_its_own_key_again_is_not_flagged(client, institution):
    CredentialFactory(institution=institution, client_id=VALID_DAP_CLIENT_ID)
    response, verification = hand_over(client, institution)
    assert "already on file for another institution" not in response.content.decode()
    assert shared_key_mail() == []


def test_the_same_key_for_another_kind_of_the_same_institution_is_flagged(institution):
    dap = CredentialFactory(institution=institution, client_id="170000000000123")
    developer_key = CredentialFactory(institution=institution, kind="developer_key", client_id="170000000000123")
    assert shared_keys.other_holders(developer_key) == [dap]


def test_a_key_nobody_else_holds_any_more_is_not_flagged(client, institution):
    CredentialFactory(client_id=VALID_DAP_CLIENT_ID, status=Credential.Status.REVOKED, secret=None)
    hand_over(client, institution)
    assert shared_key_mail() == []


def test_staff_see_every_holder_on_each_page_in_the_filter_and_on_the_dashboard(bob, institution):
    first = CredentialFactory(client_id=VALID_DAP_CLIENT_ID, institution__name="Northwind College")
    second = CredentialFactory(client_id=UUID, institution=institution)
    CredentialFactory(institution__name="Contoso Academy")  # a key of its own
    client = signed_in(bob)
    for page, other in ((first, second), (second, first)):
        html = client.get(f"/admin/keys/credential/{page.pk}/change/").content.decode()
        assert "Shared key: also on file for another institution" in html
        assert f'href="/admin/keys/institution/{other.institution_id}/change/"' in html
        assert f'href="/admin/keys/credential/{other.pk}/change/"' in html
    listed = client.get("/admin/keys/credential/", {"shared_key": "flagged"}).context["cl"].result_list
    assert {credential.pk for credential in listed} == {first.pk, second.pk}
    tiles = {tile.label: tile for tile in dashboard.tiles(first.verified_at)}
    assert tiles["Shared keys"].count == 2
    assert tiles["Shared keys"].url.endswith("?shared_key=flagged")


def test_the_customer_confirms_that_they_share_the_key(client, institution):
    CredentialFactory(client_id=VALID_DAP_CLIENT_ID)
    response, verification = hand_over(client, institution)
    response = client.post(f"/s/{verification.public_id}/shared-key/", follow=True)
    assert "You confirmed that Example University shares this key" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.SHARED_KEY_CONFIRMED)
    assert event.credential_id == verification.credential_id and event.actor == "c•••@example.edu"
    assert shared_keys.is_flagged(verification.credential)  # the customer's word alone does not silence it


def test_marking_a_consortium_is_audited_and_silences_it_until_another_institution_arrives(alice, institution):
    first = CredentialFactory(client_id=VALID_DAP_CLIENT_ID)
    second = CredentialFactory(client_id=VALID_DAP_CLIENT_ID, institution=institution)
    client = signed_in(alice)
    assert client.post(f"/admin/keys/credential/{first.pk}/consortium/", {"reason": ""}).status_code == 400
    response = client.post(
        f"/admin/keys/credential/{first.pk}/consortium/", {"reason": "Both colleges run one Canvas account"}
    )
    assert response.status_code == 302
    assert not shared_keys.flagged().exists()
    events = AuditEvent.objects.filter(action=AuditEvent.Action.CONSORTIUM_MARKED)
    assert {event.credential_id for event in events} == {first.pk, second.pk}
    assert {event.reason for event in events} == {"Both colleges run one Canvas account"}
    html = client.get(f"/admin/keys/credential/{second.pk}/change/").content.decode()
    assert "Shared key, marked as a consortium" in html
    third = CredentialFactory(client_id=VALID_DAP_CLIENT_ID)
    assert set(shared_keys.flagged().values_list("pk", flat=True)) == {first.pk, second.pk, third.pk}


def test_only_staff_who_may_change_institutions_may_mark_a_consortium(bob, institution):
    first = CredentialFactory(client_id=VALID_DAP_CLIENT_ID)
    CredentialFactory(client_id=VALID_DAP_CLIENT_ID, institution=institution)
    response = signed_in(bob).post(f"/admin/keys/credential/{first.pk}/consortium/", {"reason": "We share it, trust"})
    assert response.status_code == 403
    assert shared_keys.flagged().count() == 2
