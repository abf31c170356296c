"""Shared fixtures: the cast (alice, bob, charlie, dana) and an institution with its key."""

import pytest
from django.contrib.auth.models import Permission

from tests import factories
from tests.staff_cast import REVEALER_CODENAMES, SECRET


def pytest_collection_modifyitems(config, items):
    """postgres_only tests need PostgreSQL's parallel writers: on SQLite they wait for CI's PostgreSQL pass."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="runs on PostgreSQL (DATABASE_URL=postgres://…), as in CI's second pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Sign-in tests check hundreds of passwords; the production hasher's cost proves nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
    user = django_user_model.objects.create_user("bob", "bob@partner.example", "bob-password-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="keys", codename__startswith="view_"))
    return user


@pytest.fixture
def dana(db, django_user_model):
    """A staff member trusted with secrets: view permissions plus reveal, revoke and complete."""
    user = django_user_model.objects.create_user("dana", "dana@partner.example", "dana-password-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="keys").filter(
            codename__startswith="view_"
        ) | Permission.objects.filter(content_type__app_label="keys", codename__in=REVEALER_CODENAMES)
    )
    return user


@pytest.fixture
def credential(institution):
    """Example University's active Canvas Data 2 key, with a known secret."""
    return factories.CredentialFactory(institution=institution, secret=SECRET)
