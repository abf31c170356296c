"""The partner's developer-key requirements (scopes, redirect URIs per region, toggles), read from a
TOML file rather than edited into the code.

PORTAL_DEVELOPER_KEY_FILE names the partner's file; without it Keydrop shows the samples in
deploy/developer-key.toml, which a local install is happy with and production refuses
(check keydrop.E025). A file that cannot be read is check keydrop.E028, in every mode.
"""

import tomllib
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

SAMPLE_FILE = Path(__file__).resolve().parent.parent / "deploy" / "developer-key.toml"


def load(path: Path | str) -> dict:
    """{"redirect_uris": [(region, uri)], maybe none, "scopes": [(scope, group)], and the two toggles}."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ImproperlyConfigured(f"PORTAL_DEVELOPER_KEY_FILE: cannot read {path}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ImproperlyConfigured(f"PORTAL_DEVELOPER_KEY_FILE: {path} is not valid TOML: {exc}.") from None
    try:
        # Optional: without them, Keydrop's own callback is the redirect URI and Keydrop completes the grant.
        redirect_uris = [(str(entry["region"]), str(entry["uri"])) for entry in data.get("redirect_uris", [])]
        scopes = [(str(entry["scope"]), str(entry["group"])) for entry in data["scopes"]]
        toggles = {name: data[name] for name in ("enforce_scopes", "allow_include_parameters")}
    except (KeyError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"PORTAL_DEVELOPER_KEY_FILE: {path} needs scopes (scope, group), "
            f"enforce_scopes and allow_include_parameters, as in deploy/developer-key.toml (missing {exc})."
        ) from None
    if not all(isinstance(value, bool) for value in toggles.values()):
        raise ImproperlyConfigured(f"PORTAL_DEVELOPER_KEY_FILE: {path}: the toggles must be true or false.")
    if not scopes:
        raise ImproperlyConfigured(f"PORTAL_DEVELOPER_KEY_FILE: {path} lists no scopes.")
    return {"redirect_uris": redirect_uris, "scopes": scopes, **toggles}


def load_or_sample(path: str) -> dict:
    """For settings: the partner's file, or the samples while it is missing or unreadable (which
    check keydrop.E028 reports, so the start is refused with a message rather than a traceback)."""
    if path:
        try:
            return load(path)
        except ImproperlyConfigured:
            pass
    return load(SAMPLE_FILE)
