"""Pipeline tokens and webhook endpoints in the admin: made only by staff with the permission (and so a
second factor), shown once on an uncached page, never in a list, a message or the session; revoked
and resent as audited actions."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from keys.models import AuditEvent, PipelineToken, WebhookDelivery, WebhookEndpoint
from keys.models.pipelines import token_digest
from portal.signin import second_factor
from tests import factories
from tests.pipelines import api, create_token
from tests.staff_cast import signed_in


@pytest.fixture
def erin(dana, django_user_model):
    """dana, also trusted to manage pipelines."""
    dana.user_permissions.add(Permission.objects.get(codename="manage_pipelines"))
    return django_user_model.objects.get(pk=dana.pk)


def test_managing_pipelines_requires_a_second_factor(erin):
    assert second_factor.required_for(erin)


def test_a_token_made_in_the_admin_is_shown_once_uncached_and_works(erin, credential):
    staff = signed_in(erin)
    data = {"name": "warehouse", "kinds": ["dap"], "institutions": [credential.institution.pk]}
    page = staff.post("/admin/keys/pipelinetoken/add/", data)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = page.context["value"]
    assert PipelineToken.objects.get().digest == token_digest(token)
    assert (
        token not in str(dict(staff.session)) and token not in staff.get("/admin/keys/pipelinetoken/").content.decode()
    )
    with api(token) as client:
        assert client.get("/credentials").status_code == 200
    assert AuditEvent.objects.filter(action="pipeline_token", actor="dana").exists()


def test_staff_without_the_permission_cannot_make_a_token(dana, credential):
    staff = signed_in(dana)
    assert staff.get("/admin/keys/pipelinetoken/add/").status_code == 403
    assert staff.post("/admin/keys/pipelinetoken/add/", {"name": "x", "kinds": ["dap"]}).status_code == 403
    assert not PipelineToken.objects.exists()


def test_a_bad_token_form_says_why_and_stores_nothing(erin, db):
    page = signed_in(erin).post("/admin/keys/pipelinetoken/add/", {"name": "Not A Slug", "kinds": []})
    assert page.status_code == 400 and not PipelineToken.objects.exists()


def test_revoking_in_the_admin_is_audited_and_ends_the_token(erin, credential):
    token = create_token("old", "--kind", "dap")
    row = PipelineToken.objects.get()
    signed_in(erin).post("/admin/keys/pipelinetoken/", {"action": "revoke", "_selected_action": [row.pk]})
    with api(token) as client:
        assert client.get("/credentials").json()["error"]["code"] == "revoked_token"


def test_an_endpoint_added_in_the_admin_shows_its_secret_once(erin, settings):
    page = signed_in(erin).post(
        "/admin/keys/webhookendpoint/add/", {"url": "https://hooks.partner.example/keydrop", "events": ["grant.lost"]}
    )
    assert page.status_code == 200 and page.context["value"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.reveal() == page.context["value"]
    listing = signed_in(erin).get("/admin/keys/webhookendpoint/").content.decode()
    assert page.context["value"] not in listing


def test_an_endpoint_at_a_private_address_is_refused_in_the_admin(erin):
    page = signed_in(erin).post(
        "/admin/keys/webhookendpoint/add/", {"url": "https://10.1.2.3/", "events": ["grant.lost"]}
    )
    assert page.status_code == 400 and not WebhookEndpoint.objects.exists()


def test_deliveries_are_listed_and_sent_again_from_the_admin(erin, credential):
    endpoint = WebhookEndpoint(url="https://hooks.partner.example/", events=["credential.revoked"], created_by="x")
    endpoint.set_secret(WebhookEndpoint.new_secret())
    endpoint.save()
    credential.revoke(timezone.now())
    event = credential.pipeline_events.get()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, state="sent", attempts=1)
    staff = signed_in(erin)
    assert staff.get("/admin/keys/webhookdelivery/").status_code == 200
    staff.post("/admin/keys/webhookdelivery/", {"action": "send_again", "_selected_action": [delivery.pk]})
    assert WebhookDelivery.objects.get().state == "scheduled"


def test_the_lists_open_for_staff(erin, credential):
    create_token("p", "--kind", "dap")
    factories.CredentialFactory()
    staff = signed_in(erin)
    for page in ("/admin/keys/pipelinetoken/", "/admin/keys/webhookendpoint/", "/admin/keys/pipelinetoken/add/"):
        assert staff.get(page).status_code == 200, page
