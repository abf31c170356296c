"""Keydrop's system checks: refuse to run with missing or dangerous key material, and in production
(DEBUG off) with anything a customer would see that is still a placeholder.

Production checks are errors, so `check --deploy` names each placeholder left in place and the web
server (portal/wsgi.py) and the task cluster refuse to start until it is fixed.
"""

import datetime
import ipaddress
import os
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from intake import rules
from portal import developer_key

# Names reserved for examples and tests (RFC 2606, RFC 6761): never a real partner's host.
PLACEHOLDER_TLDS = {"example", "invalid", "test", "localhost"}
PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
PARTNER_NAME_SAMPLES = {"Partner"}  # deploy/keydrop.env's
EMAILS_TO_FILES = {
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}


@checks.register("keydrop")
def check_key_material(app_configs, **kwargs):
    errors = []
    if settings.PORTAL_SECRET_KEY_MISSING:
        errors.append(
            checks.Error(
                "SECRET_KEY is not set.",
                hint="Set it to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))') "
                "and keep it with PORTAL_ENCRYPTION_KEY: both are needed to read stored secrets.",
                id="keydrop.E020",
            )
        )
    if settings.PORTAL_DEBUG_UNSET:
        errors.append(
            checks.Error(
                "DEBUG is not set, but the keys come from the environment.",
                hint="Set DEBUG=0 for production (or DEBUG=1 to develop with these keys). Keydrop runs with DEBUG "
                "off until you do, so real keys never run in DEBUG mode.",
                id="keydrop.E021",
            )
        )
    key = settings.PORTAL_ENCRYPTION_KEY
    if not key:
        errors.append(
            checks.Error(
                "PORTAL_ENCRYPTION_KEY is not set.",
                hint="Set it to a long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))') "
                "and keep it with SECRET_KEY: both are needed to read stored secrets.",
                id="keydrop.E001",
            )
        )
    elif key == settings.SECRET_KEY:
        errors.append(
            checks.Error(
                "PORTAL_ENCRYPTION_KEY must not be the same as SECRET_KEY.",
                hint="Use a separate random value, so the two can be rotated independently.",
                id="keydrop.E002",
            )
        )
    elif len(key) < 32:
        errors.append(checks.Error("PORTAL_ENCRYPTION_KEY is shorter than 32 characters.", id="keydrop.E003"))
    return errors


@checks.register("keydrop")
def check_verification_rules(app_configs, **kwargs):
    # Every rule is a limit: a larger value is a looser rule.
    warnings = []
    for name, instructure_value in rules.INSTRUCTURE.items():
        value, instructure_value = _number(getattr(settings, name)), _number(instructure_value)
        if value <= 0:
            warnings.append(checks.Error(f"{name} must be positive.", id="keydrop.E004"))
        elif value > instructure_value:
            warnings.append(
                checks.Warning(
                    f"{name} is looser than Instructure's verified key release ({value:g} > {instructure_value:g}).",
                    hint="Partners may tighten these rules, not loosen them.",
                    id="keydrop.W002",
                )
            )
    return warnings


@checks.register("keydrop")
def check_branding(app_configs, **kwargs):
    from portal import branding

    errors = []
    if not branding.is_colour(settings.PORTAL_PARTNER_COLOUR):
        errors.append(
            checks.Error(
                f"PORTAL_PARTNER_COLOUR {settings.PORTAL_PARTNER_COLOUR!r} is not a colour.",
                hint="Use six hex digits after #, such as #1f5fbf.",
                id="keydrop.E040",
            )
        )
    problem = branding.logo_url_problem(settings.PORTAL_PARTNER_LOGO_URL)
    if problem:
        errors.append(checks.Error(f"PORTAL_PARTNER_LOGO_URL cannot be used: {problem}.", id="keydrop.E041"))
    return errors


def _number(value: int | datetime.timedelta) -> float:
    return value.total_seconds() if isinstance(value, datetime.timedelta) else value


@checks.register("keydrop", deploy=True)
def check_local_keys(app_configs, **kwargs):
    if settings.PORTAL_USING_LOCAL_KEYS:
        return [
            checks.Warning(
                "Keydrop is using locally generated keys from the data folder.",
                hint="Set SECRET_KEY and PORTAL_ENCRYPTION_KEY in the environment for production.",
                id="keydrop.W001",
            )
        ]
    return []


def is_placeholder_host(host: str | None) -> bool:
    host = (host or "").strip().lower().rstrip(".").strip("[]")
    if not host or host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.rsplit(".", 1)[-1] in PLACEHOLDER_TLDS or any(
            host == domain or host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS
        )
    return address.is_loopback or address.is_unspecified


def is_example_host(host: str) -> bool:
    """A name reserved for examples (RFC 2606): a template's sample, never a real server."""
    host = host.strip().lower().rstrip(".")
    return host.rsplit(".", 1)[-1] in PLACEHOLDER_TLDS - {"localhost"} or any(
        host == domain or host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS
    )


def is_placeholder_address(value: str) -> bool:
    address = parseaddr(value)[1]
    return "@" not in address or is_placeholder_host(address.rsplit("@", 1)[1])


@checks.register("keydrop")
def check_production_settings(app_configs, **kwargs):
    """What customers and staff would see: links, addresses, the developer-key requirements."""
    if settings.DEBUG:
        return []
    errors = []
    base = urlsplit(settings.PORTAL_BASE_URL)
    if base.scheme != "https" or is_placeholder_host(base.hostname):
        errors.append(
            checks.Error(
                f"PORTAL_BASE_URL is {settings.PORTAL_BASE_URL!r}: intake links and emails would point there.",
                hint="Set it to the https address customers reach Keydrop at, such as https://keys.partner.com.",
                id="keydrop.E022",
            )
        )
    elif not _host_allowed(base.hostname):
        errors.append(
            checks.Error(
                f"The host of PORTAL_BASE_URL ({base.hostname}) is not in ALLOWED_HOSTS.",
                hint="Add it to ALLOWED_HOSTS, or every page at that address answers 400.",
                id="keydrop.E023",
            )
        )
    addresses = {
        "PORTAL_SUPPORT_EMAIL": [settings.PORTAL_SUPPORT_EMAIL],
        "DEFAULT_FROM_EMAIL": [settings.DEFAULT_FROM_EMAIL],
        "SERVER_EMAIL": [settings.SERVER_EMAIL],
        "ADMINS": [address for _, address in settings.ADMINS],
        "PORTAL_STAFF_EMAILS": list(settings.PORTAL_STAFF_EMAILS),
        "PORTAL_PARTNER_KEY_EMAIL": [settings.PORTAL_PARTNER_KEY_EMAIL] if settings.PORTAL_PARTNER_KEY_EMAIL else [],
    }
    for name, values in addresses.items():
        placeholders = [value for value in values if is_placeholder_address(value)]
        if placeholders:
            errors.append(
                checks.Error(
                    f"{name} is a placeholder ({', '.join(placeholders)}).",
                    hint="Set it to a real address at your domain: customers and staff see it, and replies go there.",
                    id="keydrop.E024",
                )
            )
    if settings.PORTAL_PARTNER_NAME_UNSET or settings.PORTAL_PARTNER_NAME in PARTNER_NAME_SAMPLES:
        errors.append(
            checks.Error(
                f"PORTAL_PARTNER_NAME is {'not set' if settings.PORTAL_PARTNER_NAME_UNSET else 'the sample'}: "
                f"customers would be asked to trust {settings.PORTAL_PARTNER_NAME!r}.",
                hint="Set it to your company's name as your customers know it, such as Acme Analytics.",
                id="keydrop.E029",
            )
        )
    logo_host = urlsplit(settings.PORTAL_PARTNER_LOGO_URL).hostname
    if logo_host and is_placeholder_host(logo_host):
        errors.append(
            checks.Error(
                f"PORTAL_PARTNER_LOGO_URL is on a placeholder host ({logo_host}): pages would show a broken image.",
                hint="Use your logo's real https address, or a path on this site such as /static/logo.svg.",
                id="keydrop.E041",
            )
        )
    errors += _developer_key_samples()
    errors += placeholder_urls()
    if settings.EMAIL_BACKEND in EMAILS_TO_FILES:
        errors.append(
            checks.Error(
                "Emails are written to files, not sent: customers would never get their codes.",
                hint="Set EMAIL_URL, such as smtp://user:password@smtp.partner.com:587/?tls=True.",
                id="keydrop.E026",
            )
        )
    if not settings.ADMINS:
        errors.append(
            checks.Warning(
                "ADMINS is not set: server errors and a stopped scheduler are reported to nobody.",
                hint='Set ADMINS="Ops <ops@partner.com>".',
                id="keydrop.W020",
            )
        )
    return errors


# Every setting whose value is an address Keydrop connects to (PORTAL_BASE_URL, PORTAL_PARTNER_LOGO_URL
# and PORTAL_DAP_API_URL have checks of their own).
URL_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)
PLACEHOLDER_WORDS = ("change-me", "changeme")


def placeholder_urls() -> list[checks.CheckMessage]:
    """Each URL-valued variable still holding deploy/keydrop.env's sample host or password, by name
    (the password itself is never printed)."""
    errors = []
    for name in URL_SETTINGS:
        value = os.getenv(name, "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        problems = []
        # A database, Redis or mail server on this machine is real: only the sample names are placeholders.
        if parts.hostname and is_example_host(parts.hostname):
            problems.append(f"its host {parts.hostname} is a placeholder")
        if any(word in value.lower() for word in PLACEHOLDER_WORDS):
            problems.append("it still contains the template's CHANGE-ME")
        if problems:
            errors.append(
                checks.Error(
                    f"{name} is the template's placeholder: {' and '.join(problems)}.",
                    hint=f"Set {name} to your real {URL_PURPOSE.get(name, 'address')} in the environment file.",
                    id="keydrop.E042",
                )
            )
    return errors


URL_PURPOSE = {
    "DATABASE_URL": "PostgreSQL address, user and password",
    "REDIS_URL": "Redis address (the task queue's broker)",
    "EMAIL_URL": "SMTP server, user and password",
}


@checks.register("keydrop")
def check_developer_key_file(app_configs, **kwargs):
    if not settings.PORTAL_DEVELOPER_KEY_FILE:
        return []
    try:
        developer_key.load(settings.PORTAL_DEVELOPER_KEY_FILE)
    except ImproperlyConfigured as problem:
        return [checks.Error(str(problem), hint="Start from a copy of deploy/developer-key.toml.", id="keydrop.E028")]
    return []


def _host_allowed(host: str) -> bool:
    from django.http.request import validate_host

    return validate_host(host, settings.ALLOWED_HOSTS)


# Listing redirect URIs hands the grant to the partner's own callback and turns off Keydrop's Authorize step.
KEEP_OUR_CALLBACK = (
    " Leave its redirect_uris out unless your product completes the OAuth grant itself: without them Keydrop's "
    "own callback is the redirect URI and Keydrop completes the grant."
)


def _developer_key_samples() -> list[checks.CheckMessage]:
    hint = (
        "Copy deploy/developer-key.toml, put in your product's scopes, and name the copy in PORTAL_DEVELOPER_KEY_FILE."
    )
    if not settings.PORTAL_DEVELOPER_KEY_FILE:
        samples = "The developer-key requirements customers see are Keydrop's samples."
        return [checks.Error(samples, hint=hint + KEEP_OUR_CALLBACK, id="keydrop.E025")]
    try:
        developer_key.load(settings.PORTAL_DEVELOPER_KEY_FILE)
    except ImproperlyConfigured:
        return []  # check keydrop.E028 says why the file cannot be read
    problems = []
    setup = settings.PORTAL_DEVELOPER_KEY
    for region, uri in setup["redirect_uris"]:
        parts = urlsplit(uri)
        if parts.scheme != "https" or is_placeholder_host(parts.hostname):
            problems.append(f"the {region} redirect URI {uri!r} is a placeholder")
    if setup["scopes"] == developer_key.load(developer_key.SAMPLE_FILE)["scopes"]:
        problems.append("the scopes are the samples")
    return [
        checks.Error(f"PORTAL_DEVELOPER_KEY_FILE: {problem}.", hint=hint + KEEP_OUR_CALLBACK, id="keydrop.E025")
        for problem in problems
    ]


@checks.register("keydrop", deploy=True)
def check_static_files(app_configs, **kwargs):
    """Production serves hashed copies; without them every page would fail or show unstyled."""
    if "Manifest" not in settings.STORAGES["staticfiles"]["BACKEND"]:
        return []
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import staticfiles_storage

    hint = "Run `python manage.py collectstatic --noinput` (after every upgrade too), then start the server."
    manifest = Path(settings.STATIC_ROOT) / staticfiles_storage.manifest_name
    if not manifest.exists():
        missing_manifest = f"Static files have not been collected: {manifest} is missing."
        return [checks.Error(missing_manifest, hint=hint, id="keydrop.E027")]
    collected, _ = staticfiles_storage.load_manifest()
    found = (path for finder in finders.get_finders() for path, _ in finder.list(["CVS", ".*", "*~"]))
    missing = sorted(path for path in found if path not in collected)
    if missing:
        return [
            checks.Error(
                f"Static files are out of date: {len(missing)} file(s) are not collected, such as {missing[0]}.",
                hint=hint,
                id="keydrop.E027",
            )
        ]
    return []


def refuse_to_start_on_errors() -> None:
    """For servers that do not run checks themselves (gunicorn): stop on any Keydrop error."""
    problems = [m for m in checks.run_checks(tags=["keydrop"], include_deployment_checks=True) if m.is_serious()]
    if problems:
        raise ImproperlyConfigured(
            "Keydrop will not start:\n" + "\n".join(f"  {m.id}: {m.msg} {m.hint or ''}".rstrip() for m in problems)
        )
