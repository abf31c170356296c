"""Production (DEBUG off) refuses every placeholder a customer or an operator would see.

Each is a system error, so `check --deploy` names it and the web server and task cluster refuse to
start: a link to http://127.0.0.1:8000, a support address at .invalid, an example host, Keydrop's
sample developer-key requirements, emails written to files. The documented environment
(deploy/keydrop.env) filled in passes `check --deploy` without an error or a warning; left as it
is, it fails on each placeholder.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks

from portal import developer_key

ENV_TEMPLATE = Path(settings.BASE_DIR, "deploy", "keydrop.env")


def messages(**overrides):
    return [m for m in checks.run_checks(tags=["keydrop"]) if m.level >= checks.WARNING]


def ids(**overrides) -> list[str]:
    return sorted(m.id for m in messages())


def test_the_test_configuration_is_a_clean_production_one():
    assert not settings.DEBUG
    assert ids() == []


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",
        "http://keys.partner.com",
        "https://localhost",
        "https://keys.partner.example",
        "https://[::1]",
    ],
)
def test_a_base_url_that_customers_cannot_reach_is_an_error(settings, base_url):
    settings.PORTAL_BASE_URL = base_url
    assert ids() == ["keydrop.E022"]


@pytest.mark.parametrize("name, unset", [("Keydrop", True), ("Partner", False)])
def test_a_partner_name_left_unset_or_at_the_sample_is_an_error(settings, name, unset):
    settings.PORTAL_PARTNER_NAME, settings.PORTAL_PARTNER_NAME_UNSET = name, unset
    assert ids() == ["keydrop.E029"]
    settings.PORTAL_PARTNER_NAME, settings.PORTAL_PARTNER_NAME_UNSET = "Acme Analytics", False
    assert ids() == []


@pytest.mark.parametrize("logo", ["https://cdn.partner.example/logo.svg", "https://localhost/logo.png"])
def test_a_logo_on_a_placeholder_host_is_an_error(settings, logo):
    settings.PORTAL_PARTNER_LOGO_URL = logo
    assert ids() == ["keydrop.E041"]
    settings.PORTAL_PARTNER_LOGO_URL = "https://cdn.partner.com/logo.svg"
    assert ids() == []


def test_a_base_url_on_a_host_that_is_not_allowed_is_an_error(settings):
    settings.PORTAL_BASE_URL = "https://keys.partner.com"
    assert ids() == ["keydrop.E023"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".partner.com"]
    assert ids() == []


@pytest.mark.parametrize(
    "name, value",
    [
        ("PORTAL_SUPPORT_EMAIL", "support@keydrop.invalid"),
        ("DEFAULT_FROM_EMAIL", "Keydrop <keydrop@localhost>"),
        ("SERVER_EMAIL", "errors@example.com"),
        ("ADMINS", [("Ops", "ops@partner.example")]),
        ("PORTAL_STAFF_EMAILS", ["keys@partner.com", "ops@partner.example"]),
        ("PORTAL_PARTNER_KEY_EMAIL", "partners@example.com"),
        ("PORTAL_SUPPORT_EMAIL", "not an address"),
    ],
)
def test_a_placeholder_address_is_an_error_naming_the_setting(settings, name, value):
    setattr(settings, name, value)
    [message] = messages()
    assert message.id == "keydrop.E024" and message.msg.startswith(name)


def test_no_admins_is_a_warning(settings):
    settings.ADMINS = []
    assert ids() == ["keydrop.W020"]


def test_emails_written_to_files_are_an_error(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    assert ids() == ["keydrop.E026"]


def test_the_sample_developer_key_requirements_are_an_error(settings):
    settings.PORTAL_DEVELOPER_KEY_FILE = ""
    settings.PORTAL_DEVELOPER_KEY = developer_key.load(developer_key.SAMPLE_FILE)
    assert ids() == ["keydrop.E025"]


def test_a_partner_file_still_holding_sample_scopes_or_hosts_is_an_error(settings, tmp_path):
    sample = developer_key.SAMPLE_FILE.read_text()
    partner_file = tmp_path / "developer-key.toml"
    partner_file.write_text(sample)
    settings.PORTAL_DEVELOPER_KEY_FILE = str(partner_file)
    settings.PORTAL_DEVELOPER_KEY = developer_key.load(partner_file)
    found = messages()
    assert [m.id for m in found] == ["keydrop.E025"] and "the scopes are the samples" in found[0].msg
    partner_file.write_text(sample.replace('/courses/:id"', '/users/:id"'))
    settings.PORTAL_DEVELOPER_KEY = developer_key.load(partner_file)
    assert ids() == []
    # A partner that completes the grant itself lists its callbacks; sample hosts among them are refused.
    own_callbacks = 'redirect_uris = [{ region = "US", uri = "https://us.example.com/{institution}/callback" }]\n'
    partner_file.write_text(own_callbacks + sample.replace('/courses/:id"', '/users/:id"'))
    settings.PORTAL_DEVELOPER_KEY = developer_key.load(partner_file)
    [message] = messages()
    assert message.id == "keydrop.E025" and "the US redirect URI" in message.msg
    partner_file.write_text(
        own_callbacks.replace("example.com", "partner.com") + sample.replace('/courses/:id"', '/users/:id"')
    )
    settings.PORTAL_DEVELOPER_KEY = developer_key.load(partner_file)
    assert ids() == []


def test_a_local_install_may_use_the_placeholders(settings):
    settings.DEBUG = True
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    settings.PORTAL_SUPPORT_EMAIL = "support@keydrop.invalid"
    settings.PORTAL_DEVELOPER_KEY_FILE = ""
    assert ids() == []


@pytest.mark.parametrize("debug", [False, True])
def test_a_developer_key_file_that_cannot_be_read_is_an_error_saying_why(settings, tmp_path, debug):
    settings.DEBUG = debug
    broken = tmp_path / "developer-key.toml"
    settings.PORTAL_DEVELOPER_KEY_FILE = str(broken)
    for content, problem in [
        (None, "cannot read"),
        ("scopes = [", "not valid TOML"),
        ('redirect_uris = [{ region = "US" }]\nscopes = []\n', "needs scopes"),
    ]:
        if content is not None:
            broken.write_text(content)
        [message] = messages()
        assert message.id == "keydrop.E028" and problem in message.msg


# The documented environment, run as an operator would --------------------------------------------


def template_env() -> dict[str, str]:
    """deploy/keydrop.env as systemd (and deploy/manage) read it."""
    lines = ENV_TEMPLATE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def filled_in(data_dir: str | Path) -> dict[str, str]:
    """The template with every placeholder replaced, as docs/operations.md asks."""
    env = {
        name: value.replace("partner.example", "keydrop.internal").replace("CHANGE-ME", "s3cret-pw")
        for name, value in template_env().items()
    }
    env.update(
        SECRET_KEY="documented-secret-key-" + "k" * 40,
        PORTAL_ENCRYPTION_KEY="documented-encryption-key-" + "e" * 40,
        PORTAL_DATA_DIR=data_dir,
        DATABASE_URL=f"sqlite:///{data_dir}/keydrop.sqlite3",
        PORTAL_DEVELOPER_KEY_FILE=str(Path(__file__).with_name("developer-key.toml")),
        PORTAL_PARTNER_NAME="Acme Analytics",
    )
    return env


def test_the_environment_template_lists_every_variable_the_settings_read():
    source = Path(settings.BASE_DIR, "portal", "settings.py").read_text()
    read = set(re.findall(r"""(?:getenv|env\w+)\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_TEMPLATE.read_text(), re.MULTILINE))
    assert len(read) > 30 and read - listed == set()


@pytest.mark.processes
def test_the_template_left_as_it_is_fails_on_each_placeholder():
    with tempfile.TemporaryDirectory() as data_dir:
        result = manage("check", env={**template_env(), "PORTAL_DATA_DIR": data_dir})
    assert result.returncode == 1
    found = set(re.findall(r"keydrop\.[EW]\d{3}", result.stderr))
    # No keys, example hosts, example addresses, and a developer-key file that is not there yet.
    assert {"keydrop.E001", "keydrop.E020", "keydrop.E022", "keydrop.E024", "keydrop.E028", "keydrop.E029"} <= found
    for name in ("PORTAL_SUPPORT_EMAIL", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL", "ADMINS", "PORTAL_STAFF_EMAILS"):
        assert f"{name} is a placeholder" in result.stderr
    for name in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL"):
        assert f"{name} is the template's placeholder" in result.stderr
    assert "CHANGE-ME@" not in result.stderr  # named, never printed with its password
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "name, value, why",
    [
        ("REDIS_URL", "redis://cache.partner.example:6379/0", "its host cache.partner.example is a placeholder"),
        ("EMAIL_URL", "smtp://keydrop:CHANGE-ME@smtp.partner.com:587/?tls=True", "CHANGE-ME"),
        ("DATABASE_URL", "postgres://keydrop:CHANGE-ME@db.partner.example:5432/keydrop", "host db.partner.example"),
        ("OIDC_OP_TOKEN_ENDPOINT", "https://sso.example.com/token", "its host sso.example.com is a placeholder"),
    ],
)
def test_every_url_setting_left_as_the_template_is_named(settings, monkeypatch, name, value, why):
    monkeypatch.setenv(name, value)
    [error] = [m for m in checks.run_checks(tags=["keydrop"]) if m.id == "keydrop.E042"]
    assert error.msg.startswith(f"{name} is the template's placeholder") and why in error.msg
    assert "CHANGE-ME@" not in error.msg


def test_real_urls_pass(settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://keydrop:pw@127.0.0.1:5432/keydrop")  # on this machine: real
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    monkeypatch.setenv("EMAIL_URL", "smtp://keydrop:pw@smtp.partner.com:587/?tls=True")
    assert [m for m in checks.run_checks(tags=["keydrop"]) if m.id == "keydrop.E042"] == []


@pytest.mark.processes
def test_the_filled_in_template_passes_check_deploy_without_an_error_or_a_warning(collected_static):
    # collectstatic is one of the recipe's steps; its result is shared with the other static-file tests.
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=filled_in(collected_static.parent))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.processes
def test_without_a_secret_key_production_says_so_instead_of_a_traceback():
    with tempfile.TemporaryDirectory() as data_dir:
        env = filled_in(data_dir)
        del env["SECRET_KEY"]
        result = manage("check", env=env)
    assert result.returncode == 1
    assert "keydrop.E020" in result.stderr and "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.processes
def test_real_keys_without_debug_set_run_as_production_and_refuse_to_start(collected_static):
    env = filled_in(collected_static.parent)
    del env["DEBUG"]
    result = manage("check", "--deploy", env=env)
    assert result.returncode == 1 and "keydrop.E021" in result.stderr
    assert "security.W018" not in result.stderr  # DEBUG is off: never DEBUG with real keys, even before the fix
