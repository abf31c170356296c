"""Helpers that walk the customer's flow the way a browser would: GET the form, POST it back."""

import re

from django.core import mail

VALID_DAP_SECRET = "dap-Secret_value-1234567890abcdefGHIJ"
VALID_DAP_CLIENT_ID = "us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
VALID_DEV_KEY_ID = "170000000000123"
VALID_DEV_KEY_SECRET = "A" * 32 + "b1" * 16


def form_data(client, institution, kind="dap", **overrides) -> dict:
    """The fields a customer would send, with the one-time nonce of a freshly loaded form."""
    response = client.get(institution.intake_path(kind))
    assert response.status_code == 200
    form = response.context["form"]
    data = {
        "form_nonce": form.initial["form_nonce"],
        "client_id": VALID_DAP_CLIENT_ID if kind == "dap" else VALID_DEV_KEY_ID,
        "client_secret": VALID_DAP_SECRET if kind == "dap" else VALID_DEV_KEY_SECRET,
        "expiry": "1y",
        "created_on": form.today.isoformat(),
        "contact": str(institution.contacts.first().pk),
    }
    if kind == "dap":
        data["key_type"] = "institutional"
    else:
        data["canvas_url"] = "https://example.instructure.com"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def submit(client, institution, kind="dap", **overrides):
    """Submit the form; returns (response, verification or None)."""
    from intake.models import Verification

    before = set(Verification.objects.values_list("pk", flat=True))
    response = client.post(institution.intake_path(kind), form_data(client, institution, kind, **overrides))
    created = Verification.objects.exclude(pk__in=before).first()
    return response, created


def last_code(outbox=None) -> str:
    """The code in the newest code email (a receipt email may have followed it)."""
    messages = outbox if outbox is not None else mail.outbox
    codes = [re.search(r"confirmation code: ([0-9]{6})", message.body) for message in messages]
    return [code for code in codes if code][-1].group(1)


def wrong_code(right: str) -> str:
    """A well-formed code that is not `right`."""
    return f"{(int(right) + 1) % 10**6:06d}"


# Every value that has broken a form or a lookup somewhere: for the "no input gives a 500" tests.
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202e\u200b\ufeff",
    "😀" * 50,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "x" * 100_000,
    "١٢٣٤٥٦",
    "１２３４５６",
    "%00",
    "\r\n\r\n",
    "9" * 50,
    "-1",
    "1e309",
    "2027-02-30",
    "0000-00-00",
    "99999-12-31",
    "../../etc/passwd",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]
