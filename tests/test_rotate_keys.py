"""Rotating SECRET_KEY and PORTAL_ENCRYPTION_KEY without losing a secret."""

import io

import pytest
from django.core.management import CommandError, call_command

from keys.models import Credential
from keys.sealing import Sealed, fernet
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db
OLD_SIGNING = "old-secret-key-" + "o" * 40
OLD_ENCRYPTION = "old-encryption-key-" + "p" * 40


def sealed_under_old_keys(plaintext):
    return Sealed.seal(plaintext, fernet(OLD_ENCRYPTION, OLD_SIGNING))


def rotate(monkeypatch, *args):
    monkeypatch.setenv("OLD_SECRET_KEY", OLD_SIGNING)
    monkeypatch.setenv("OLD_PORTAL_ENCRYPTION_KEY", OLD_ENCRYPTION)
    out = io.StringIO()
    call_command("rotate_keys", *args, stdout=out)
    return out.getvalue()


def test_every_secret_is_re_encrypted_under_the_new_keys(monkeypatch):
    secrets = [f"secret-number-{n}" for n in range(25)]
    for secret in secrets:
        CredentialFactory(secret=sealed_under_old_keys(secret))
    CredentialFactory(secret=None)
    assert "Re-encrypted 25 secret(s); 0 already" in rotate(monkeypatch)
    revealed = sorted(c.secret.reveal() for c in Credential.objects.filter(secret__isnull=False))
    assert revealed == sorted(secrets)


def test_running_it_twice_changes_nothing_the_second_time(monkeypatch):
    CredentialFactory(secret=sealed_under_old_keys("once"))
    rotate(monkeypatch)
    assert "Re-encrypted 0 secret(s); 1 already" in rotate(monkeypatch)
    assert Credential.objects.get().secret.reveal() == "once"


def test_a_secret_under_unknown_keys_stops_the_rotation_and_changes_nothing(monkeypatch):
    good = CredentialFactory(secret=sealed_under_old_keys("good"))
    stranger = CredentialFactory(
        secret=Sealed.seal("lost", fernet("unknown-key-" + "u" * 40, "unknown-signing-" + "v" * 40))
    )
    before = Credential.objects.get(pk=good.pk).secret
    with pytest.raises(CommandError, match=f"keys.Credential#{stranger.pk}"):
        rotate(monkeypatch)
    assert Credential.objects.get(pk=good.pk).secret == before


def test_a_dry_run_changes_nothing(monkeypatch):
    CredentialFactory(secret=sealed_under_old_keys("dry"))
    before = Credential.objects.get().secret
    assert "Would re-encrypt 1 secret(s)" in rotate(monkeypatch, "--dry-run")
    assert Credential.objects.get().secret == before
