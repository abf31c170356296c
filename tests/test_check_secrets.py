"""The restore drill: `manage.py check_secrets` opens every stored secret in memory with the keys at
hand and reports how many open and which rows do not, never printing one."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from keys.models import Credential
from keys.sealing import Sealed, fernet
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db
SECRETS = ["drill-Secret-one-0123456789", "drill-Secret-two-0123456789"]


def check_secrets() -> str:
    out = io.StringIO()
    call_command("check_secrets", stdout=out)
    return out.getvalue()


def test_with_the_right_keys_every_secret_opens_and_none_is_printed(institution):
    for secret in SECRETS:
        CredentialFactory(institution=institution, secret=secret)
    CredentialFactory(institution=institution, secret=None, status=Credential.Status.REVOKED)  # purged: nothing to open
    output = check_secrets()
    assert output.strip() == "All 2 stored secret(s) open with these keys."
    assert not any(secret in output for secret in SECRETS)


def test_rows_sealed_under_other_keys_are_named_and_the_command_fails(institution):
    good = CredentialFactory(institution=institution, secret=SECRETS[0])
    foreign = CredentialFactory(institution=institution, secret=SECRETS[1])
    other_keys = fernet("another-encryption-key-" + "x" * 40, "another-secret-key-" + "y" * 40)
    Credential.objects.filter(pk=foreign.pk).update(secret=Sealed.seal(SECRETS[1], other_keys))
    with pytest.raises(CommandError) as failure:
        check_secrets()
    message = str(failure.value)
    assert message.startswith("1 of 2 stored secret(s) do not open with these keys: keys.Credential#")
    assert f"keys.Credential#{foreign.pk}" in message and f"#{good.pk}," not in message
    assert not any(secret in message for secret in SECRETS)


def test_without_the_encryption_key_it_says_which_key_is_missing(settings, institution):
    CredentialFactory(institution=institution, secret=SECRETS[0])
    settings.PORTAL_ENCRYPTION_KEY = ""
    with pytest.raises(CommandError, match="PORTAL_ENCRYPTION_KEY is not set"):
        check_secrets()
