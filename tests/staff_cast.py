"""The staff side of the cast, for the workspace tests: import the fixtures you use.

alice (superuser) and bob (staff, view permissions only) live in conftest.py; dana is a staff
member trusted with secrets: view permissions plus reveal, revoke and complete.
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import CredentialFactory

REVEALER_CODENAMES = ["reveal_credential_secret", "revoke_credential", "complete_partner_credential"]
SECRET = "staff-Secret_value-0123456789abcdef"


@pytest.fixture
def dana(db, django_user_model):
    user = django_user_model.objects.create_user("dana", "dana@partner.example", "dana-password-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="keys").filter(
            codename__startswith="view_"
        ) | Permission.objects.filter(content_type__app_label="keys", codename__in=REVEALER_CODENAMES)
    )
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def credential(institution):
    """Example University's active Canvas Data 2 key, with a known secret."""
    return CredentialFactory(institution=institution, secret=SECRET)
