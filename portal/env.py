"""Small helpers for reading settings from the environment."""

import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: bool) -> bool:
    value = os.getenv(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    return int(value) if value not in (None, "") else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


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


def envchoice(name: str, default: str, choices: list[str]) -> str:
    value = (os.getenv(name) or "").strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value
