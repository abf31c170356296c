"""Settings read from the environment refuse what they do not understand, rather than guess."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import emails
from portal.env import envbool, envint, envseconds, retired

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("word", ["1", "true", "True", "TRUE", "yes", "Yes", "on", "ON", " on "])
def test_a_yes_word_turns_a_switch_on(monkeypatch, word):
    monkeypatch.setenv("KEYDROP_TEST_SWITCH", word)
    assert envbool("KEYDROP_TEST_SWITCH", False) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "NO", "off", "Off"])
def test_a_no_word_turns_a_switch_off(monkeypatch, word):
    monkeypatch.setenv("KEYDROP_TEST_SWITCH", word)
    assert envbool("KEYDROP_TEST_SWITCH", True) is False


@pytest.mark.parametrize("default", [True, False])
def test_an_unset_or_empty_switch_keeps_its_default(monkeypatch, default):
    monkeypatch.delenv("KEYDROP_TEST_SWITCH", raising=False)
    assert envbool("KEYDROP_TEST_SWITCH", default) is default
    monkeypatch.setenv("KEYDROP_TEST_SWITCH", "")
    assert envbool("KEYDROP_TEST_SWITCH", default) is default


@pytest.mark.parametrize("word", ["ture", "flase", "y", "n", "enabled", "2", "-1", "1.0", "yes please"])
def test_an_unknown_word_for_a_switch_is_refused_by_name(monkeypatch, word):
    monkeypatch.setenv("KEYDROP_TEST_SWITCH", word)
    with pytest.raises(ImproperlyConfigured, match=r"KEYDROP_TEST_SWITCH=.*is not a yes/no value"):
        envbool("KEYDROP_TEST_SWITCH", True)


def test_a_whole_number_is_read(monkeypatch):
    monkeypatch.setenv("KEYDROP_TEST_NUMBER", " 42 ")
    assert envint("KEYDROP_TEST_NUMBER", 7) == 42
    monkeypatch.setenv("KEYDROP_TEST_NUMBER", "")
    assert envint("KEYDROP_TEST_NUMBER", 7) == 7


@pytest.mark.parametrize("value", ["five", "1.5", "5m", "0x10", "1e3"])
def test_a_number_that_is_not_whole_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("KEYDROP_TEST_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match=r"KEYDROP_TEST_NUMBER=.*is not a whole number"):
        envint("KEYDROP_TEST_NUMBER", 7)


def test_a_setting_no_longer_read_is_refused_naming_what_replaced_it(monkeypatch):
    monkeypatch.setenv("PORTAL_REMINDER_CLAIM_SECONDS", "900")
    with pytest.raises(ImproperlyConfigured, match="PORTAL_REMINDER_CLAIM_SECONDS is no longer read: use the new one"):
        retired({"PORTAL_REMINDER_CLAIM_SECONDS": "use the new one"})
    monkeypatch.setenv("PORTAL_REMINDER_CLAIM_SECONDS", "")
    retired({"PORTAL_REMINDER_CLAIM_SECONDS": "use the new one"})


def test_a_duration_is_read_in_seconds(monkeypatch):
    monkeypatch.setenv("KEYDROP_TEST_SECONDS", "90")
    assert envseconds("KEYDROP_TEST_SECONDS", datetime.timedelta(minutes=5)) == datetime.timedelta(seconds=90)
    monkeypatch.delenv("KEYDROP_TEST_SECONDS")
    assert envseconds("KEYDROP_TEST_SECONDS", datetime.timedelta(minutes=5)) == datetime.timedelta(minutes=5)


def _start(**env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process, as `manage.py` or gunicorn would at start."""
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)"
    command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


@pytest.mark.processes
def test_an_old_claim_setting_stops_the_start_and_names_its_replacement():
    started = _start(PORTAL_CAMPAIGN_CLAIM_SECONDS="600")
    assert started.returncode != 0
    assert "PORTAL_CAMPAIGN_CLAIM_SECONDS is no longer read: every sweep's claim follows PORTAL_CLAIM_SECONDS" in (
        started.stderr
    )
    refused = _start(PORTAL_CLAIM_SECONDS="0").stderr
    assert "ImproperlyConfigured: PORTAL_CLAIM_SECONDS='0' is too small: it must be at least 1" in refused


@pytest.mark.processes
def test_a_typo_in_secure_ssl_redirect_stops_the_start_instead_of_turning_it_off():
    started = _start(SECURE_SSL_REDIRECT="ture")
    assert started.returncode != 0
    assert "ImproperlyConfigured: SECURE_SSL_REDIRECT='ture' is not a yes/no value" in started.stderr
    assert _start(SECURE_SSL_REDIRECT="TRUE").stdout.strip() == "True"


def test_a_number_below_its_minimum_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("KEYDROP_TEST_HOURS", "0")
    with pytest.raises(ImproperlyConfigured, match="KEYDROP_TEST_HOURS='0' is too small: it must be at least 1"):
        envint("KEYDROP_TEST_HOURS", 24, minimum=1)
    monkeypatch.setenv("KEYDROP_TEST_HOURS", "1")
    assert envint("KEYDROP_TEST_HOURS", 24, minimum=1) == 1


@pytest.mark.processes
def test_a_check_interval_of_zero_stops_the_start_instead_of_dividing_by_zero_in_the_sweep():
    started = _start(PORTAL_CHECK_INTERVAL_HOURS="0")
    assert started.returncode != 0
    assert "PORTAL_CHECK_INTERVAL_HOURS='0' is too small" in started.stderr


@pytest.mark.parametrize(
    "hours, words", [(24, "every day"), (6, "every 6 hours"), (1, "every hour"), (48, "every 2 days")]
)
def test_the_emails_say_how_often_keys_are_checked_as_configured(settings, hours, words):
    settings.PORTAL_CHECK_INTERVAL = datetime.timedelta(hours=hours)
    assert emails.check_every() == words
