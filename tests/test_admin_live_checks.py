"""What staff see of the live checks: a "last check" column, a filter, the history, the failing tile."""

import datetime
import re

import pytest
from django.utils import timezone

from keys.admin import dashboard
from keys.checks import live_checks
from keys.models import Credential
from keys.outcomes import Verdict
from tests.factories import CredentialFactory, canvas_says, works
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(institution):
    now = timezone.now()
    working = CredentialFactory(institution=institution)
    works(working, now)
    failing = CredentialFactory(institution=institution)
    works(failing, now - datetime.timedelta(days=1))
    canvas_says(
        failing, Verdict.rejected("The key is Off for your account: switch it On in Admin → Developer Keys."), now=now
    )
    unclear = CredentialFactory(institution=institution)
    canvas_says(
        unclear,
        Verdict.inconclusive("Instructure asked us to slow down (HTTP 429); we will check again later."),
        now=now,
    )
    unchecked = CredentialFactory(institution=institution)
    return {"works": working, "failing": failing, "inconclusive": unclear, "unchecked": unchecked}


def listed(client, query=""):
    response = client.get("/admin/keys/credential/" + query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_list_says_what_the_last_check_found_under_each_status(bob, keys):
    page = listed(signed_in(bob))
    # Outcomes are three words (their moment on hover); "failing" marks a key that worked and is now refused.
    for outcome in ("works", "rejected", "inconclusive"):
        assert re.search(rf'<span class="kd-check kd-check-{outcome}" title="Last check [^"]+">{outcome}</span>', page)
    assert page.count('<span class="kd-badge kd-failing">failing</span>') == 1
    assert "not checked yet" in page


@pytest.mark.parametrize("state", ["works", "failing", "inconclusive", "unchecked"])
def test_the_list_filters_by_what_the_checks_found(bob, keys, state):
    page = listed(signed_in(bob), f"?check={state}")
    for other, credential in keys.items():
        assert (credential.masked_client_id in page) == (other == state), other


def test_an_unknown_check_filter_is_refused_like_any_bad_filter(bob, keys):
    response = signed_in(bob).get("/admin/keys/credential/?check=on-fire")
    assert response.status_code == 302 and response.url.endswith("?e=1")


def test_the_change_page_shows_what_canvas_said_and_the_history(bob, keys):
    failing = keys["failing"]
    page = signed_in(bob).get(f"/admin/keys/credential/{failing.pk}/change/").content.decode()
    assert "What Canvas said" in page and "Failing since" in page
    assert "Live checks against Canvas" in page
    history = page[page.index("kd-check-history") :]
    assert history.index("rejected") < history.index("works"), "newest first"
    assert "switch it On in Admin → Developer Keys" in history


def test_a_key_rejected_at_hand_over_is_listed_with_its_status_and_reason(alice, institution):
    rejected = CredentialFactory(institution=institution)
    rejected.start_tracking(timezone.now())
    canvas_says(rejected, Verdict.rejected("Instructure did not accept this Client ID and Secret."), trigger="handover")
    client = signed_in(alice)
    assert rejected.masked_client_id in listed(client, "?status=rejected")
    page = client.get(f"/admin/keys/credential/{rejected.pk}/change/").content.decode()
    assert "Rejected by Canvas" in page
    assert "Rejected when handed over" in page and "did not accept this Client ID and Secret" in page
    assert f"/{rejected.pk}/revoke/" not in page and f"/{rejected.pk}/reveal/" not in page  # no secret left


def test_the_dashboard_has_a_failing_tile_leading_to_the_filtered_list(bob, keys):
    tile = next(tile for tile in dashboard.tiles(timezone.now()) if tile.label == "Failing")
    assert tile.count == 1 and tile.tone == "bad"
    assert tile.url.endswith("?check=failing")
    assert 'href="/admin/keys/credential/?check=failing"' in signed_in(bob).get("/admin/").content.decode()


def test_the_region_canvas_reported_is_shown_beside_a_client_id_without_one(bob, institution, fake_dap):
    credential = CredentialFactory(
        institution=institution, client_id="0c59cade-1111-4a7b-8c9d-0e1f2a3b4c5d", secret="s3cret-v4lue"
    )
    fake_dap.add_key(credential.client_id, "s3cret-v4lue")
    fake_dap.region = "eu-central-1"
    live_checks.check(credential, trigger="command")
    assert "…4c5d · eu-central-1" in listed(signed_in(bob))
    assert Credential.objects.get(pk=credential.pk).region == "eu-central-1"
