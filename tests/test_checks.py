"""System checks guard the key material and the verification rules."""

import datetime

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from intake import rules
from portal.checks import refuse_to_start_on_errors


def ids():
    return {message.id for message in checks.run_checks(tags=["keydrop"], include_deployment_checks=True)}


def test_a_configured_portal_passes():
    assert not {i for i in ids() if ".E" in i}


def test_a_missing_encryption_key_is_an_error_and_the_server_refuses_to_start(settings):
    settings.PORTAL_ENCRYPTION_KEY = ""
    assert "keydrop.E001" in ids()
    with pytest.raises(ImproperlyConfigured, match="keydrop.E001"):
        refuse_to_start_on_errors()


def test_an_encryption_key_equal_to_secret_key_is_an_error(settings):
    settings.PORTAL_ENCRYPTION_KEY = settings.SECRET_KEY
    assert "keydrop.E002" in ids()


def test_a_short_encryption_key_is_an_error(settings):
    settings.PORTAL_ENCRYPTION_KEY = "short"
    assert "keydrop.E003" in ids()


def test_loosening_a_verification_rule_is_warned_about(settings):
    settings.PORTAL_CODE_MAX_ATTEMPTS = 10
    settings.PORTAL_VERIFICATION_WINDOW = datetime.timedelta(minutes=30)
    warnings = [m for m in checks.run_checks(tags=["keydrop"]) if m.id == "keydrop.W002"]
    assert len(warnings) == 2


def test_tightening_a_verification_rule_is_fine(settings):
    settings.PORTAL_CODE_MAX_ATTEMPTS = 3
    settings.PORTAL_CODE_LIFETIME = datetime.timedelta(minutes=2)
    assert "keydrop.W002" not in ids()


def test_the_defaults_are_instructures_rules_and_pass_the_check():
    from django.conf import settings

    assert {name: getattr(settings, name) for name in rules.INSTRUCTURE} == {
        "PORTAL_CODE_LIFETIME": datetime.timedelta(minutes=5),
        "PORTAL_CODE_MAX_RESENDS": 3,
        "PORTAL_CODE_MAX_ATTEMPTS": 5,
        "PORTAL_VERIFICATION_WINDOW": datetime.timedelta(minutes=15),
    }
    assert "keydrop.W002" not in ids()
