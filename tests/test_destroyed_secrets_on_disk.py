"""A destroyed secret leaves no copy on disk that still decrypts (SQLite, the embedded default).

Before: setting a secret to NULL left the page as it was, ciphertext and all, in SQLite's
write-ahead log (and its freed bytes in the database file), and that ciphertext still opened with
the keys. Now freed bytes are zeroed (PRAGMA secure_delete) and, once the destroying transaction
commits, the log is checkpointed and truncated. PostgreSQL keeps no such copy in a table Keydrop
reads; what VACUUM does and does not remove is in docs/operations.md.
"""

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from keys import staff
from keys.models import Credential
from keys.sealing import Sealed
from tests.factories import CredentialFactory
from tests.test_canary import read_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "destroyed-Secret_value-0123456789abcdef"


def on_disk() -> bytes:
    return b"".join(read_elsewhere(path) for path in sorted(settings.DATA_DIR.glob("test-keydrop.sqlite3*")))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's own files")
def test_a_revoked_secret_is_nowhere_on_disk():
    credential = CredentialFactory(secret=SECRET)
    ciphertext = Credential.objects.get(pk=credential.pk).secret.ciphertext
    assert Sealed(ciphertext).reveal() == SECRET and ciphertext in on_disk()  # what an attacker would read
    staff.revoke([credential], actor=staff.Actor("alice"), reason="the key leaked in a ticket", now=timezone.now())
    assert Credential.objects.get(pk=credential.pk).secret is None
    assert ciphertext not in on_disk()
