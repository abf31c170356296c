"""What the workspace tests share besides fixtures (the cast lives in conftest.py)."""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

REVEALER_CODENAMES = ["reveal_credential_secret", "revoke_credential", "complete_partner_credential"]
SECRET = "staff-Secret_value-0123456789abcdef"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queries_to_load(client: Client, path: str) -> int:
    """How many database queries the page at `path` costs; it must load."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)
