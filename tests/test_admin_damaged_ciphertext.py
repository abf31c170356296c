"""One damaged ciphertext must not take the staff pages down: listing never decrypts."""

import pytest

from keys.models import Credential
from keys.sealing import Sealed
from tests.factories import CredentialFactory
from tests.staff_cast import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def damaged(institution):
    CredentialFactory.create_batch(3, institution=institution)
    broken = CredentialFactory(institution=institution)
    Credential.objects.filter(pk=broken.pk).update(secret=Sealed(b"\x80 not a ciphertext at all"))
    return broken


def test_the_lists_dashboard_and_change_page_still_render(alice, damaged):
    staff = signed_in(alice)
    for page in [
        "/admin/",
        "/admin/keys/credential/",
        f"/admin/keys/credential/{damaged.pk}/change/",
        "/admin/keys/institution/",
    ]:
        assert staff.get(page).status_code == 200, page


def test_revealing_it_says_so_instead_of_crashing(alice, damaged):
    response = signed_in(alice).post(
        f"/admin/keys/credential/{damaged.pk}/reveal/", {"reason": "pipeline reports auth failures"}
    )
    assert response.status_code == 409
    assert "cannot be decrypted with the current keys" in response.content.decode()
