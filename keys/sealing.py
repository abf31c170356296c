"""Credential secrets at rest: django-cryptography ciphertext, opened in exactly one place.

The ciphertext format is django-cryptography's own (``encrypt(models.TextField())``: a pickled
string, AES-CBC under a key derived from CRYPTOGRAPHY_KEY, signed with SECRET_KEY by its
FernetSigner). What Keydrop adds is laziness: a loaded row holds a ``Sealed`` value, and only
``Sealed.reveal()`` decrypts. Listing, exporting rows, printing a model or serialising it with
dumpdata never sees plaintext, and one damaged ciphertext cannot break a page that lists it.
"""

import base64
import pickle
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.utils.encoding import force_bytes
from django_cryptography.conf import CryptographyConf  # noqa: F401  (sets CRYPTOGRAPHY_SALT)
from django_cryptography.core.signing import BadSignature, FernetSigner
from django_cryptography.utils.crypto import FernetBytes, InvalidToken

SERIALIZED_PREFIX = "sealed:"


class SecretUnreadable(Exception):
    """The ciphertext cannot be opened: damaged, or sealed under other keys."""


def derive_encryption_key(raw_key: str) -> bytes:
    """The AES key django-cryptography derives from CRYPTOGRAPHY_KEY (its CryptographyConf)."""
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=32,
        salt=force_bytes(settings.CRYPTOGRAPHY_SALT),
        iterations=30000,
    )
    return kdf.derive(raw_key.encode())


@lru_cache(maxsize=4)
def _fernet(encryption_key: str, signing_key: str) -> FernetBytes:
    # The key derivation is deliberately slow (PBKDF2), so keep the few key pairs in use.
    return FernetBytes(key=derive_encryption_key(encryption_key), signer=FernetSigner(key=signing_key))


def fernet(encryption_key: str | None = None, signing_key: str | None = None) -> FernetBytes:
    """The cipher for the configured keys, or for explicit (old) keys during rotation."""
    encryption_key = encryption_key or settings.PORTAL_ENCRYPTION_KEY
    signing_key = signing_key or settings.SECRET_KEY
    if not encryption_key:
        # django-cryptography would silently fall back to SECRET_KEY; Keydrop never does.
        raise ImproperlyConfigured("PORTAL_ENCRYPTION_KEY is not set (check keydrop.E001).")
    if signing_key == settings.SECRET_KEY and settings.PORTAL_SECRET_KEY_MISSING:
        raise ImproperlyConfigured("SECRET_KEY is not set (check keydrop.E020).")
    return _fernet(encryption_key, signing_key)


class Sealed:
    """An encrypted secret. It prints as a placeholder and compares by ciphertext."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: bytes):
        self.ciphertext = bytes(ciphertext)

    @classmethod
    def seal(cls, plaintext: str, cipher: FernetBytes | None = None) -> "Sealed":
        return cls((cipher or fernet()).encrypt(pickle.dumps(str(plaintext))))

    def reveal(self, cipher: FernetBytes | None = None) -> str:
        """Decrypt. The only place in Keydrop where a secret becomes plaintext."""
        try:
            value = pickle.loads((cipher or fernet()).decrypt(self.ciphertext))
        except (BadSignature, InvalidToken, ValueError, pickle.UnpicklingError, EOFError) as exc:
            raise SecretUnreadable("the stored ciphertext cannot be decrypted with the configured keys") from exc
        if not isinstance(value, str):
            raise SecretUnreadable("the stored ciphertext does not hold a secret")
        return value

    def __repr__(self) -> str:
        return "<Sealed secret>"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Sealed) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class SealedSecretField(models.BinaryField):
    """Stores a secret as django-cryptography ciphertext; loads it as ``Sealed``, never plaintext.

    Assign a ``Sealed`` (or a plain string, sealed on save). ``dumpdata`` writes the ciphertext.
    """

    description = "Secret encrypted with django-cryptography"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else Sealed(value)

    def to_python(self, value):
        if value is None or isinstance(value, Sealed):
            return value
        if isinstance(value, str) and value.startswith(SERIALIZED_PREFIX):
            return Sealed(base64.b64decode(value[len(SERIALIZED_PREFIX) :]))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return Sealed(value)
        raise ValidationError("A sealed secret must be loaded from its ciphertext.")

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = Sealed.seal(value)
        if not isinstance(value, Sealed):
            raise TypeError("SealedSecretField takes a Sealed value or a plaintext string")
        return value.ciphertext

    def get_db_prep_save(self, value, connection):
        if value is None:  # a secret destroyed (or a row without one): leave no copy behind
            forget_destroyed_copies(connection)
        return super().get_db_prep_save(value, connection)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else SERIALIZED_PREFIX + base64.b64encode(value.ciphertext).decode()


def forget_destroyed_copies(connection) -> None:
    """After the transaction that set a secret to NULL commits, SQLite keeps no copy of its ciphertext.

    SQLite writes changed pages to its write-ahead log; the page as it was before (with the
    ciphertext) stays there until the log is checkpointed and restarted, and still decrypts.
    PRAGMA secure_delete (settings) zeroes freed bytes in the database file; a TRUNCATE checkpoint
    then copies the current pages back and empties the log. If a long reader keeps it busy, the next
    destruction or the purge sweep (every 10 minutes) does it. PostgreSQL: see docs/guarantees.md, "Secrets at rest".
    """
    if connection.vendor == "sqlite":
        transaction.on_commit(lambda: _truncate_write_ahead_log(connection), using=connection.alias)


def _truncate_write_ahead_log(connection) -> None:
    waits_ms = int(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5) * 1000)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 2000")  # do not hold a request long for a reader
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {waits_ms}")


def sealed_fields():
    """Every (model, field) that stores a sealed secret, for commands that visit them all."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, SealedSecretField):
                yield model, field
