"""What the workspace tests share besides fixtures (the cast lives in conftest.py)."""

from django.test import Client

REVEALER_CODENAMES = ["reveal_credential_secret", "revoke_credential", "complete_partner_credential"]
SECRET = "staff-Secret_value-0123456789abcdef"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
