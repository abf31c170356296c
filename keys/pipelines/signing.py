"""Webhook signatures, the Standard Webhooks way (standardwebhooks.com), as Svix and Stripe-style receivers check them.

    webhook-id         the delivery's id: the same on every retry, so a receiver can drop a repeat
    webhook-timestamp  seconds since the epoch when this attempt was signed
    webhook-signature  "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

The key is the base64 after ``whsec_`` of the endpoint's secret. Receivers verify with the
``standardwebhooks`` library (tests/test_webhooks.py does, on loopback) or the few lines in docs/pipelines.md.
"""

import base64
import hashlib
import hmac

from django.views.decorators.debug import sensitive_variables

from keys.models.webhooks import SECRET_PREFIX


@sensitive_variables("secret", "key")
def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@sensitive_variables("secret")
def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
        "Content-Type": "application/json",
    }
