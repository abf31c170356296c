"""manage.py export_credential: what a pipeline reads, and the refusals that print nothing."""

import datetime
import http.server
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from base64 import b64decode
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from keys import audit
from keys.models import AuditEvent, Credential
from keys.sealing import Sealed
from tests.factories import CredentialFactory

pytestmark = pytest.mark.django_db
CLIENT_ID = "us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
# Every character a shell treats specially, and none of them whitespace (no secret has any).
AWKWARD_SECRET = "a'b\"c$d`e\\f!g*h?i[j]k{l}m|n;o&p<q>r(s)t#u~v%w^x=y$(id)z"


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_credential", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def credential(institution):
    return CredentialFactory(institution=institution, client_id=CLIENT_ID, secret=AWKWARD_SECRET)


def test_env_format_prints_the_kinds_variable_names_with_the_gateway_to_call(credential, settings):
    # A partner on another gateway: the official client reads DAP_API_URL, else it calls the default one.
    settings.PORTAL_DAP_API_URL = "https://api-gateway.eu.instructure.com"
    out, err = export("--institution", "example-u", "--kind", "dap", "--format", "env")
    lines = out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["DAP_API_URL", "DAP_CLIENT_ID", "DAP_CLIENT_SECRET"]
    assert lines[0] == "DAP_API_URL=https://api-gateway.eu.instructure.com"
    assert lines[1] == f"DAP_CLIENT_ID='{CLIENT_ID}'"


def test_env_output_sourced_by_sh_gives_a_child_exactly_the_stored_values(credential, tmp_path):
    out, _ = export("--institution", "example-u", "--kind", "dap")
    env_file = tmp_path / "dap.env"
    env_file.write_text(out)
    script = (
        'set -a; . "$1"; set +a; exec "$2" -c "import json, os; '
        "print(json.dumps({k: os.environ.get(k) for k in ('DAP_CLIENT_ID', 'DAP_CLIENT_SECRET')}))\""
    )
    child = subprocess.run(
        ["/bin/sh", "-c", script, "sh", str(env_file), sys.executable],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"DAP_CLIENT_ID": CLIENT_ID, "DAP_CLIENT_SECRET": AWKWARD_SECRET}


def test_json_format_prints_one_parseable_object(credential):
    out, _ = export("--institution", "example-u", "--format", "json")
    assert json.loads(out) == {
        "DAP_API_URL": settings.PORTAL_DAP_API_URL,
        "DAP_CLIENT_ID": CLIENT_ID,
        "DAP_CLIENT_SECRET": AWKWARD_SECRET,
    }


def test_a_developer_key_uses_its_own_variable_names(institution):
    credential = CredentialFactory(
        institution=institution, kind="developer_key", client_id="170000000000123", secret="S" * 64, expires_at=None
    )
    out, _ = export("--institution", "example-u", "--kind", "developer_key", "--format", "json")
    assert json.loads(out) == {
        "CANVAS_BASE_URL": credential.canvas_url,
        "CANVAS_CLIENT_ID": "170000000000123",
        "CANVAS_CLIENT_SECRET": "S" * 64,
    }


def test_it_exports_the_newest_usable_credential(institution):
    now = timezone.now()
    CredentialFactory(
        institution=institution,
        status=Credential.Status.SUPERSEDED,
        secret="older-secret",
        submitted_at=now - datetime.timedelta(days=200),
    )
    CredentialFactory(institution=institution, secret="newest-secret", submitted_at=now - datetime.timedelta(days=1))
    CredentialFactory(
        institution=institution, status=Credential.Status.PENDING, verified_at=None, secret="pending-secret"
    )
    CredentialFactory(institution=institution, status=Credential.Status.AWAITING_SECRET, secret=None, submitted_at=now)
    out, _ = export("--institution", "example-u", "--format", "json")
    assert json.loads(out)["DAP_CLIENT_SECRET"] == "newest-secret"


def test_a_superseded_key_still_working_is_exported_when_the_newer_one_was_revoked(institution):
    now = timezone.now()
    CredentialFactory(
        institution=institution,
        status=Credential.Status.SUPERSEDED,
        secret="older-secret",
        submitted_at=now - datetime.timedelta(days=200),
    )
    CredentialFactory(institution=institution, status=Credential.Status.REVOKED, secret=None)
    out, _ = export("--institution", "example-u", "--format", "json")
    assert json.loads(out)["DAP_CLIENT_SECRET"] == "older-secret"


def test_every_export_is_audited_as_the_cli_user(credential, monkeypatch):
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "pipeline")
    export("--institution", "example-u", "--format", "json")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.credential, event.detail) == (
        "export",
        "cli:pipeline",
        credential,
        "format json",
    )
    assert AWKWARD_SECRET not in f"{event.reason} {event.detail}"


def test_it_warns_on_stderr_when_the_key_expires_soon(institution):
    credential = CredentialFactory(
        institution=institution, expires_at=timezone.now() + datetime.timedelta(days=5, hours=2)
    )
    out, err = export("--institution", "example-u")
    assert f"({credential.days_left()} days left)" in err and "days left" not in out


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["--institution", "nowhere"], "No institution with the slug 'nowhere'"),
        ("none", ["--institution", "example-u"], "has no usable Canvas Data 2 key"),
        ("expired", ["--institution", "example-u"], "has no usable Canvas Data 2 key"),
        ("revoked", ["--institution", "example-u"], "has no usable Canvas Data 2 key"),
        ("pending", ["--institution", "example-u"], "has no usable Canvas Data 2 key"),
        ("awaiting", ["--institution", "example-u"], "has no usable Canvas Data 2 key"),
    ],
)
def test_it_refuses_with_a_clear_message_and_prints_nothing(institution, setup, args, message):
    states = {
        "expired": {"expires_at": timezone.now() - datetime.timedelta(hours=1)},
        "revoked": {"status": Credential.Status.REVOKED, "secret": None},
        "pending": {"status": Credential.Status.PENDING, "verified_at": None},
        "awaiting": {"status": Credential.Status.AWAITING_SECRET, "secret": None},
    }
    if setup in states:
        CredentialFactory(institution=institution, **states[setup])
    out = io.StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("export_credential", *args, stdout=out)
    assert out.getvalue() == "" and not AuditEvent.objects.exists()


def test_an_unknown_kind_is_refused(credential):
    out = io.StringIO()
    with pytest.raises(CommandError, match="invalid choice: 'ftp'"):
        call_command("export_credential", "--institution", "example-u", "--kind", "ftp", stdout=out)
    assert out.getvalue() == ""


def test_if_the_audit_event_cannot_be_written_nothing_is_exported(credential, monkeypatch):
    monkeypatch.setattr(audit, "record", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    out = io.StringIO()
    with pytest.raises(CommandError, match="could not record"):
        call_command("export_credential", "--institution", "example-u", stdout=out)
    assert out.getvalue() == ""


def test_an_undecryptable_secret_is_refused_without_an_event(institution):
    CredentialFactory(institution=institution, secret=Sealed(b"garbage"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("export_credential", "--institution", "example-u", stdout=out)
    assert out.getvalue() == "" and not AuditEvent.objects.exists()


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_as_a_process_a_refusal_exits_non_zero_with_stderr_only(institution, tmp_path):
    manage = Path(__file__).resolve().parent.parent / "manage.py"
    env = {**os.environ, "DATABASE_URL": _database_url_for_a_child(tmp_path)}
    for args in (
        ["--institution", "nowhere"],
        ["--institution", "example-u"],
        ["--institution", "example-u", "--kind", "ftp"],
    ):
        result = subprocess.run(
            [sys.executable, str(manage), "export_credential", *args], capture_output=True, text=True, env=env
        )
        assert result.returncode != 0
        assert result.stdout == ""
        assert result.stderr.strip()


def _database_url_for_a_child(tmp_path) -> str:
    """PostgreSQL: the test database itself. SQLite: a copy of it, because a second process
    closing the last connection it sees removes the WAL files under this process's feet."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        copy = tmp_path / "copy.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(copy) as target:
            connection.connection.backup(target)
        return f"sqlite:///{copy}"
    return (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST'] or '127.0.0.1'}"
        f":{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


class _IdentityServiceStub(http.server.BaseHTTPRequestHandler):
    """Stands in for Instructure's login endpoint on 127.0.0.1: records the Basic credentials, refuses them."""

    seen: list = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        body = b'{"error": "invalid_client"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.processes
def test_the_official_canvas_data_2_client_reads_the_exported_variables(credential, tmp_path):
    dap = shutil.which("dap", path=str(Path(sys.executable).parent))
    assert dap, "the instructure-dap-client test dependency provides the dap command"
    out, _ = export("--institution", "example-u", "--kind", "dap")
    env_file = tmp_path / "dap.env"
    env_file.write_text(out)
    _IdentityServiceStub.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IdentityServiceStub)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        # No network: the client talks only to the stub, with analytics tracking off.
        script = (
            'set -a; . "$1"; set +a; exec "$2" --base-url "$3" '
            "--no-tracking --non-interactive --no-log-to-console list --namespace canvas"
        )
        child = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(env_file), dap, f"http://127.0.0.1:{server.server_port}"],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DAP_TRACKING": "false"},
        )
    finally:
        server.shutdown()
    assert child.returncode != 0  # the stub refuses the login, as Instructure would refuse a made-up key
    [(path, authorization)] = _IdentityServiceStub.seen
    assert path == "/ids/auth/login"
    assert b64decode(authorization.removeprefix("Basic ")).decode() == f"{CLIENT_ID}:{AWKWARD_SECRET}"
