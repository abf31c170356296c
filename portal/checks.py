"""Keydrop's system checks: refuse to run with missing or dangerous key material."""

import datetime

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from intake import rules


@checks.register("keydrop")
def check_key_material(app_configs, **kwargs):
    errors = []
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


def refuse_to_start_on_errors() -> None:
    """For servers that do not run checks themselves (gunicorn): stop on any Keydrop error."""
    problems = [m for m in checks.run_checks(tags=["keydrop"]) if m.is_serious()]
    if problems:
        raise ImproperlyConfigured("; ".join(f"{m.id}: {m.msg}" for m in problems))
