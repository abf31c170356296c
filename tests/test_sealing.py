"""Secrets at rest: django-cryptography ciphertext, opened only by Sealed.reveal()."""

import io
import json

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, models
from django_cryptography.fields import encrypt

from keys.models import Credential
from keys.sealing import SERIALIZED_PREFIX, Sealed, SecretUnreadable, derive_encryption_key, fernet
from tests.factories import CredentialFactory

CANARY = "CANARY-sealing-7f3a9c"


def test_a_sealed_secret_reveals_what_was_sealed():
    assert Sealed.seal(CANARY).reveal() == CANARY


def test_sealing_the_same_secret_twice_gives_different_ciphertext():
    assert Sealed.seal(CANARY).ciphertext != Sealed.seal(CANARY).ciphertext


def test_a_sealed_value_never_prints_its_plaintext():
    sealed = Sealed.seal(CANARY)
    assert CANARY not in repr(sealed) and CANARY not in str(sealed) and CANARY not in f"{sealed}"
    assert CANARY.encode() not in sealed.ciphertext


def test_the_key_is_derived_exactly_as_django_cryptography_derives_it():
    assert derive_encryption_key(settings.PORTAL_ENCRYPTION_KEY) == settings.CRYPTOGRAPHY_KEY


def test_the_ciphertext_is_django_cryptographys_own_format():
    # A stock encrypt(TextField()) field reads what Keydrop writes, and the other way round.
    stock = encrypt(models.TextField())
    assert stock._load(Sealed.seal(CANARY).ciphertext) == CANARY
    assert Sealed(stock._dump(CANARY)).reveal() == CANARY


def test_the_encryption_key_is_not_derived_from_secret_key():
    assert settings.PORTAL_ENCRYPTION_KEY != settings.SECRET_KEY
    sealed = Sealed.seal(CANARY)
    with pytest.raises(SecretUnreadable):
        sealed.reveal(fernet(encryption_key=settings.SECRET_KEY))


def test_changing_secret_key_alone_makes_secrets_unreadable():
    # django-cryptography signs ciphertext with SECRET_KEY: it is key material too.
    sealed = Sealed.seal(CANARY)
    with pytest.raises(SecretUnreadable):
        sealed.reveal(fernet(signing_key="a-different-secret-key-" + "x" * 30))


def test_a_damaged_ciphertext_is_reported_not_crashed_on():
    damaged = bytearray(Sealed.seal(CANARY).ciphertext)
    damaged[-40] ^= 0xFF
    with pytest.raises(SecretUnreadable):
        Sealed(bytes(damaged)).reveal()
    with pytest.raises(SecretUnreadable):
        Sealed(b"not a ciphertext").reveal()


def test_without_an_encryption_key_nothing_is_sealed(settings):
    settings.PORTAL_ENCRYPTION_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        Sealed.seal(CANARY)


@pytest.mark.django_db
def test_the_database_holds_only_ciphertext():
    credential = CredentialFactory(secret=CANARY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM keys_credential WHERE id = %s", [credential.pk])
        raw = bytes(cursor.fetchone()[0])
    assert CANARY.encode() not in raw
    assert Credential.objects.get().secret.reveal() == CANARY


@pytest.mark.django_db
def test_loading_a_credential_does_not_decrypt(monkeypatch):
    CredentialFactory(secret=CANARY)
    calls = []
    monkeypatch.setattr(Sealed, "reveal", lambda self, cipher=None: calls.append(1))
    credential = Credential.objects.get()
    str(credential), repr(credential), credential.masked_client_id, credential.is_usable()
    assert calls == []


@pytest.mark.django_db
def test_dumpdata_writes_ciphertext_not_plaintext():
    CredentialFactory(secret=CANARY)
    out = io.StringIO()
    call_command("dumpdata", "keys.credential", stdout=out)
    dump = out.getvalue()
    assert CANARY not in dump
    value = json.loads(dump)[0]["fields"]["secret"]
    assert value.startswith(SERIALIZED_PREFIX)


@pytest.mark.django_db
def test_loaddata_restores_the_ciphertext(tmp_path):
    CredentialFactory(secret=CANARY)
    fixture = tmp_path / "backup.json"
    out = io.StringIO()
    call_command("dumpdata", "keys.institution", "keys.admincontact", "keys.credential", stdout=out)
    fixture.write_text(out.getvalue())
    Credential.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert Credential.objects.get().secret.reveal() == CANARY
