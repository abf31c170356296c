"""The Canvas Data 2 key: a Client ID and Secret from Instructure's Identity Services."""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from keys.kinds.base import ONE_DAY, ONE_MONTH, ONE_WEEK, ONE_YEAR, SIX_MONTHS, KeyType, Kind, Step

# The official Canvas Data 2 client reads a region as ``[\w-]+`` before "#" (only to log it), so any
# region of word characters and hyphens (us-gov-west-1, ca-central-1…); the ID after it is a UUID,
# in either case. The value is stored and sent exactly as typed.
_DAP_CLIENT_ID = re.compile(
    r"(?:(?P<region>[\w-]{1,40})#)?(?P<uuid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})", re.ASCII
)


class DataAccessPlatformKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        """Sent to Instructure as typed: the gateway's treatment of case is not published."""
        value = value.strip()
        if not value:
            raise ValidationError("Enter the Client ID.", code="required")
        match = _DAP_CLIENT_ID.fullmatch(value)
        if not match or len(value) > 120:
            raise ValidationError(
                "That doesn't look like a Canvas Data 2 Client ID. It looks like "
                f"{self.client_id_example}: a region, #, and a 36-character ID.",
                code="format",
            )
        warnings = []
        if not match["region"]:
            warnings.append(
                "The Client ID has no region prefix (such as us-east-1#). We accepted it; if you "
                "copied only part of it, submit the whole value again."
            )
        return value, warnings

    def check_host(self, credential) -> str:
        return urlsplit(settings.PORTAL_DAP_API_URL).hostname or ""

    def key_identity(self, client_id: str) -> str:
        """The UUID alone, in lower case: the region prefix is sometimes left out, and case varies."""
        match = _DAP_CLIENT_ID.fullmatch(client_id.strip())
        return match["uuid"].lower() if match else client_id.strip().lower()

    def base_url(self, credential) -> tuple[str, str]:
        # The official client reads DAP_API_URL: a partner on another gateway must not get the default one.
        return "DAP_API_URL", settings.PORTAL_DAP_API_URL


DAP = DataAccessPlatformKind(
    slug="dap",
    label="Canvas Data 2 key",
    client_id_label="Client ID",
    client_id_help="Looks like us-east-1#1a2b3c4d-…: copy it with the Copy Text button.",
    client_id_example="us-east-1#1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    secret_label="Secret",
    secret_help="Paste it exactly as copied. It is encrypted before it is stored.",
    expiry_label="Expiry",
    lifetimes=(ONE_DAY, ONE_WEEK, ONE_MONTH, SIX_MONTHS, ONE_YEAR),
    default_lifetime="1y",
    key_types=(KeyType.INSTITUTIONAL, KeyType.PARTNER),
    env_names=("DAP_CLIENT_ID", "DAP_CLIENT_SECRET"),
    check_name="dap_login",
    failure_causes=(
        "the key was deleted in Identity Services",
        "a new secret was generated for it, so the old one no longer works",
        "it reached the expiry chosen when it was created",
        "Canvas Data 2 was turned off for your institution's account",
    ),
    steps=(
        Step(
            "Find your institution",
            "Visit identity.instructure.com and search for your institution in the Institution "
            "menu. If it is not listed, ask your Canvas Customer Success Manager to add it with "
            "Canvas Data 2 enabled.",
            link_text="identity.instructure.com",
            link_url="https://identity.instructure.com/",
        ),
        Step("Log in", "Click Log In to Canvas, then click Authorize to let Identity Services access your account."),
        Step("Add a new key", "Click Add New Key."),
        Step(
            "Enter the key settings",
            "Key Name: {partner}. Scope: Canvas Data 2. Expiry: 1 year. Key Type: Institutional Use. Then click Save.",
        ),
        Step(
            "Verify the key with Instructure",
            "Instructure emails a {code_digits}-digit code to your admin address; enter it in Identity "
            "Services within {instructure_window_minutes} minutes or the key locks.",
        ),
        Step(
            "Copy the Client ID and Secret",
            "Click Reveal OAuth Credentials and copy both with the Copy Text buttons. The window "
            "opens only once: keep it open until you have pasted both below.",
        ),
        Step(
            "Submit them here",
            "Paste both below with the expiry you chose. We email a {code_digits}-digit code to an admin "
            "address we have on file for you; enter it to confirm the handover.",
        ),
    ),
    partner_steps=(
        (
            3,
            Step(
                "Enter the key settings",
                "Key Name: {partner}. Scope: Canvas Data 2. Expiry: 1 year. Key Type: Instructure Partner. "
                "Click Add New Partner and choose {partner} in the Select Partner menu.{partner_email} "
                "Click Submit, then Save.",
            ),
        ),
        (
            5,
            Step(
                "Copy the Client ID",
                "There is no secret for you to copy: once you verify the key, Instructure emails {partner} "
                "a one-time password for it. Copy only the Client ID with its Copy Text button.",
            ),
        ),
        (
            6,
            Step(
                "Submit it here",
                "Paste the Client ID below with the expiry you chose. We email a {code_digits}-digit code to an admin "
                "address we have on file for you; enter it to confirm the handover.",
            ),
        ),
    ),
    guide_title="Instructure's guide: How do I generate a Canvas Data 2 API key?",
    guide_url="https://community.canvaslms.com/t5/Admin-Guide/How-do-I-generate-a-Canvas-Data-2-API-key/ta-p/560955",
    renewal_steps=(
        "Visit identity.instructure.com, log in and click Add New Key.",
        "Name it {partner}, Scope Canvas Data 2, Expiry 1 year, Key Type Institutional Use, and save.",
        "Reveal the Client ID and Secret and submit them on the renewal page below.",
        "Keep the old key until its expiry date: the new one takes over without a gap.",
    ),
    partner_renewal_steps=(
        "Visit identity.instructure.com, log in and click Add New Key.",
        "Name it {partner}, Scope Canvas Data 2, Expiry 1 year, Key Type Instructure Partner. Click Add New "
        "Partner and choose {partner} in the Select Partner menu.{partner_email} Click Submit, then Save.",
        "There is no secret for you to copy: once you verify the key, Instructure emails {partner} a one-time "
        "password for it. Submit only the Client ID on the renewal page below.",
        "Keep the old key until its expiry date: the new one takes over without a gap.",
    ),
)
