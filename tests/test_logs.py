"""Keydrop's log lines: one per request with a request id, tokens redacted everywhere, JSON on request.

Intake links (/i/<token>/), submission pages (/s/<public id>/) and calendar addresses
(/calendar/<token>.ics) carry tokens that work as keys; no line Keydrop writes may hold one.
"""

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from keys.models import CalendarFeed
from portal.client import parse_networks
from portal.logs import JsonFormatter, KeydropFilter, redact
from tests.flows import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """Everything logged while the test runs, through the JSON formatter and Keydrop's filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(KeydropFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    request_log = logging.getLogger("keydrop.request")
    level = request_log.level
    request_log.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        request_log.setLevel(level)


def test_tokens_in_paths_are_redacted():
    assert redact("GET /i/AbC_12-x/dap/ 200") == "GET /i/[redacted]/dap/ 200"
    assert redact("Not Found: /s/QvX9-abc/receipt/") == "Not Found: /s/[redacted]/receipt/"
    assert redact("/calendar/tok3n_x.ics") == "/calendar/[redacted].ics"
    assert redact("/admin/keys/institution/") == "/admin/keys/institution/"


def test_each_request_is_one_json_line_with_its_request_id_and_no_token(client, institution, json_lines, bob):
    response, verification = submit(client, institution)
    feed = CalendarFeed.objects.create(user=bob)
    client.get(f"/calendar/{feed.token}.ics")
    client.get("/i/an-old-token-no-longer-valid/")  # Django also warns "Not Found: <path>"
    lines = json_lines()
    requests = [line for line in lines if line["logger"] == "keydrop.request"]
    assert [(line["method"], line["status"]) for line in requests] == [
        ("GET", 200),
        ("POST", 302),
        ("GET", 200),
        ("GET", 404),
    ]
    assert requests[1]["request_id"] == response["X-Request-ID"]
    assert requests[1]["path"] == "/i/[redacted]/" and requests[1]["client_ip"] == "127.0.0.1"
    assert all(isinstance(line["duration_ms"], float) for line in requests)
    # The app's own lines during the POST carry the same request id.
    during_post = [line for line in lines if line["request_id"] == response["X-Request-ID"]]
    assert any(line["logger"] == "intake.services" for line in during_post)
    text = json.dumps(lines)
    for token in (institution.intake_token, verification.public_id, feed.token, "an-old-token-no-longer-valid"):
        assert token not in text
    assert "Not Found: /i/[redacted]/" in text


def test_the_log_file_holds_no_token(client, institution):
    _, verification = submit(client, institution)
    client.get(f"/s/{verification.public_id}/")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (settings.DATA_DIR / "logs" / "keydrop.log").read_text()
    assert "/i/[redacted]/" in written
    assert institution.intake_token not in written and verification.public_id not in written


def test_a_trusted_proxys_request_id_is_kept_and_anyone_elses_is_replaced(settings):
    settings.PORTAL_TRUSTED_PROXIES = parse_networks(["10.0.0.5"])
    from_proxy = Client(REMOTE_ADDR="10.0.0.5").get("/", HTTP_X_REQUEST_ID="nginx-0123456789abcdef")
    assert from_proxy["X-Request-ID"] == "nginx-0123456789abcdef"
    from_anyone = Client(REMOTE_ADDR="203.0.113.9").get("/", HTTP_X_REQUEST_ID="forged-0123456789abcdef")
    assert from_anyone["X-Request-ID"] != "forged-0123456789abcdef" and len(from_anyone["X-Request-ID"]) == 32


def run_logging(log_format: str) -> subprocess.CompletedProcess:
    code = "import logging; logging.getLogger('keydrop').warning('opened /i/Secr3tToken/ and /calendar/t0k.ics')"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "LOG_FORMAT": log_format},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.processes
def test_log_format_json_writes_one_json_object_per_line():
    result = run_logging("json")
    [line] = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert line["level"] == "WARNING" and line["logger"] == "keydrop" and line["request_id"] == "-"
    assert line["message"] == "opened /i/[redacted]/ and /calendar/[redacted].ics"


@pytest.mark.processes
def test_an_unknown_log_format_stops_the_start():
    result = run_logging("xml")
    assert result.returncode != 0 and "LOG_FORMAT='xml' is not one of: plain, json" in result.stderr
