"""Shared fixtures: the cast (alice, bob, charlie) and an institution."""

import pytest

from tests import factories


@pytest.fixture
def institution(db):
    return factories.InstitutionFactory(name="Example University", slug="example-u", contacts=["charlie@example.edu"])


@pytest.fixture
def charlie(institution):
    """The customer's Canvas admin, on file for the institution."""
    return institution.contacts.get(email="charlie@example.edu")


@pytest.fixture
def alice(db, django_user_model):
    """The partner's administrator: a superuser."""
    return django_user_model.objects.create_superuser("alice", "alice@partner.example", "alice-password-123")


@pytest.fixture
def bob(db, django_user_model):
    """A partner staff member without the reveal permission."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("bob", "bob@partner.example", "bob-password-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="keys", codename__startswith="view_"))
    return user
