"""The audit trail in the admin: readable by staff, changeable by nobody, superusers included."""

import pytest

from keys import audit
from keys.models import AuditEvent
from tests.factories import CredentialFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db
LIST = "/admin/keys/auditevent/"


@pytest.fixture
def event(institution):
    credential = CredentialFactory(institution=institution)
    return audit.record(
        audit.Action.REVEAL, actor="dana", credential=credential, reason="checking a 401", ip="192.0.2.1"
    )


def test_staff_can_read_the_trail(bob, event):
    html = signed_in(bob).get(LIST).content.decode()
    assert "dana" in html and "Secret revealed" in html and "checking a 401" in html
    assert signed_in(bob).get(f"{LIST}{event.pk}/change/").status_code == 200


def test_the_trail_can_be_filtered_and_searched(bob, event):
    audit.record(audit.Action.INVITE, actor="alice")
    client = signed_in(bob)
    assert [e.pk for e in client.get(LIST, {"action__exact": "reveal"}).context["cl"].result_list] == [event.pk]
    assert [e.pk for e in client.get(LIST, {"q": "checking"}).context["cl"].result_list] == [event.pk]


def test_no_one_can_add_change_or_delete_an_event_not_even_a_superuser(alice, event):
    client = signed_in(alice)
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.post(f"{LIST}add/", {"actor": "mallory", "action": "reveal"}).status_code == 403
    assert client.post(f"{LIST}{event.pk}/change/", {"actor": "mallory", "reason": "nothing to see"}).status_code == 403
    assert client.get(f"{LIST}{event.pk}/delete/").status_code == 403
    assert client.post(f"{LIST}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(LIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.count() == 1
    event.refresh_from_db()
    assert (event.actor, event.reason) == ("dana", "checking a 401")


def test_the_read_only_page_offers_no_save_or_delete(alice, event):
    html = signed_in(alice).get(f"{LIST}{event.pk}/change/").content.decode()
    assert 'name="_save"' not in html and "/delete/" not in html
    assert "Add audit event" not in signed_in(alice).get(LIST).content.decode()
