"""Small helpers for reading settings from the environment.

A value that is set but not understood stops the start with ImproperlyConfigured: a typo in
SECURE_SSL_REDIRECT must not quietly turn it off. Unset or empty means the default.
"""

import datetime
import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.getenv(name, "").strip()
    return value or None


def envbool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value: use 1/0, true/false, yes/no or on/off.")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    """A whole number; below ``minimum`` stops the start (a zero interval or limit would divide by
    zero, or quietly stop what it paces)."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} is too small: it must be at least {minimum}.")
    return number


def envseconds(name: str, default: datetime.timedelta) -> datetime.timedelta:
    """A duration given in whole seconds, as every *_SECONDS variable is."""
    return datetime.timedelta(seconds=envint(name, int(default.total_seconds())))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def envchoice(name: str, default: str, choices: list[str]) -> str:
    value = (_raw(name) or default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def local_keys(data_dir: Path) -> dict[str, str]:
    """Keys for a local, DEBUG install: generated once and kept beside the data they protect.

    Production never uses these (DEBUG=0 reads only the environment), so a laptop install
    gets real random keys without anyone having to invent them.
    """
    path = data_dir / "local-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_ENCRYPTION_KEY": secrets.token_urlsafe(50),
    }
    # Written aside and linked into place, so a process starting at the same moment reads
    # either no file or a whole one, and both agree on the first one linked.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    try:
        os.link(tmp, path)
    except FileExistsError:
        keys = json.loads(path.read_text())
    finally:
        tmp.unlink()
    return keys


def retired(names: dict[str, str]) -> None:
    """Refuse variables Keydrop no longer reads, naming what replaced each: a setting quietly
    ignored is one the operator believes in."""
    for name, instead in names.items():
        if _raw(name) is not None:
            raise ImproperlyConfigured(f"{name} is no longer read: {instead}")
