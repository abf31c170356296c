"""The whole API fuzzed from its own OpenAPI document (schemathesis), against a live server.

schemathesis reads /api/v1/openapi.json, generates valid and invalid requests for every operation
(random slugs, kinds, cursors, limits, headers, no token at all) and runs its checks on each
answer: no 5xx, every status and content type documented, every body matching its schema, 401
without a token, 405 with Allow for other methods. Real Keydrop behind it: a token that may read
secrets, an institution with both kinds of key, the loopback fakes of Instructure. Starts another
process, so it runs in CI (marked processes).
"""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from keys.models import AuditEvent
from tests.pipelines import create_token
from tests.staff_cast import SECRET
from tests.test_oauth_grant import authorize

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]
EXAMPLES = "60"
# Half the slugs the fuzzer sends name the institution that has keys, so it reaches the access
# tokens and secrets too, not only 404s; the other half stay random.
CONFIG = """
[dictionaries.slugs]
values = ["example-u"]

[parameters]
"path.slug" = { dictionary = "slugs", probability = 0.5 }
"""


def test_the_api_holds_to_its_openapi_document_on_any_input(
    live_server, credential, developer_key, fake_dap, settings, tmp_path
):
    settings.PORTAL_API_REQUESTS_PER_MINUTE = 100_000  # the fuzz run is one busy pipeline; the rate has its own tests
    fake_dap.add_key(credential.client_id, SECRET)
    authorize(Client(), developer_key)
    token = create_token("fuzz", "--kind", "dap", "--kind", "developer_key", "--allow-secrets")
    base = live_server.url.replace("localhost", "127.0.0.1")
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        "run",
        f"{base}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "17",
        "--workers",
        "1",
        "--request-timeout",
        "30",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, env={"NO_COLOR": "1", "PATH": ""})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-3000:]
    # It reached the core, not only the refusals: tokens and secrets were given, each audited.
    given = AuditEvent.objects.filter(actor="pipeline:fuzz", action__in=["access_token_export", "reveal"])
    assert {event.action for event in given} == {"access_token_export", "reveal"}
