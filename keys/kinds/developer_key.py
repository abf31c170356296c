"""The Canvas API developer key: a key id and secret from the institution's own Canvas, the partner's
required scopes and redirect URIs, and the OAuth grant Keydrop completes with its own callback."""

import re
import shlex
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from keys.kinds.base import ONE_YEAR, SIX_MONTHS, Kind, Step

# The one scope Keydrop needs of a grant: ``GET /api/v1/users/self`` confirms a token works.
USERS_SELF_SCOPE = "url:GET|/api/v1/users/:id"


# A Canvas id: shard × 10^13 + local id, any positive integer below 2^63 (provider.rb client_id_is_valid?).
_DEVELOPER_KEY_ID = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
DEVELOPER_KEY_ID_LIMIT = 2**63
_DEVELOPER_KEY_SECRET = re.compile(r"^[A-Za-z0-9]{64}$")
# What Canvas lists where the account shows only a hint of each secret: 5 characters and "...".
_SECRET_HINT = re.compile(r"[A-Za-z0-9]{5}(\.\.\.|…)")


class DeveloperKeyKind(Kind):
    def clean_client_id(self, value: str) -> tuple[str, list[str]]:
        value = value.strip()
        if not value:
            raise ValidationError("Enter the key ID.", code="required")
        if not _DEVELOPER_KEY_ID.fullmatch(value) or int(value) >= DEVELOPER_KEY_ID_LIMIT:
            raise ValidationError(
                "A developer key ID is a number of 1 to 19 digits, such as 170000000000123. Copy it from "
                "the Details column on the Developer Keys page.",
                code="format",
            )
        return value, []

    def clean_secret(self, value: str) -> str:
        if _SECRET_HINT.fullmatch(value.strip()):
            raise ValidationError(
                "That is the hint Canvas shows of the secret, not the secret: Canvas shows the whole secret only "
                "when the key is created. Please do not regenerate it (that ends every integration using the key); "
                "create a new key for us instead and copy its secret when Canvas shows it.",
                code="hint",
            )
        value = super().clean_secret(value)
        if not _DEVELOPER_KEY_SECRET.match(value):
            raise ValidationError(
                f"A developer key secret is 64 letters and digits; this one has {len(value)} characters. "
                "Copy it again where Canvas shows the whole secret (Show Key).",
                code="format",
            )
        return value

    def mask(self, client_id: str) -> str:
        return f"…{client_id[-4:]}"

    def check_host(self, credential) -> str:
        return urlsplit(credential.canvas_url).hostname or ""


DEVELOPER_KEY = DeveloperKeyKind(
    slug="developer_key",
    label="Canvas API developer key",
    client_id_label="Key ID",
    client_id_help="The number in the Details column of the Developer Keys page, e.g. 170000000000123.",
    client_id_example="170000000000123",
    secret_label="Key secret",
    secret_help=(
        "64 letters and digits. Copy it when Canvas shows it (Show Key on a new key): some accounts later show "
        "only a 5-character hint. Never regenerate a secret for us: that ends every integration using the key."
    ),
    expiry_label="Review date",
    lifetimes=(SIX_MONTHS, ONE_YEAR),
    default_lifetime="1y",
    expiry_optional=True,
    asks_canvas_url=True,
    shows_scopes=True,
    needs_grant=True,
    env_names=("CANVAS_CLIENT_ID", "CANVAS_CLIENT_SECRET"),
    check_name="developer_key_probes",
    failure_causes=(
        "the key was deleted in Admin → Developer Keys",
        "its secret was regenerated, so the old one no longer works",
        "it was switched Off in Admin → Developer Keys",
        "scopes it needs were removed from it",
    ),
    lapse_consequence="we stop reviewing the key and the integration may stop when it is turned off",
    expires_verb="is due for review",
    expired_phrase="is due for review",
    renew_instruction=(
        "Check on Admin → Developer Keys that the key is still On with the scopes below, then submit it "
        "again (or a new one) to set the next review date."
    ),
    guide_title="Instructure's guide: How do I add a developer API key for an account?",
    guide_url="https://community.canvaslms.com/t5/Admin-Guide/How-do-I-add-a-developer-API-key-for-an-account/ta-p/259",
    steps=(
        Step("Open Developer Keys", "In the root account of your Canvas instance, go to Admin → Developer Keys."),
        Step(
            "Create an API key",
            "Click + Developer Key and choose API Key. Key Name: {partner}; Owner Email: your admin address.",
        ),
        Step("Add the redirect URI", "Paste the redirect URI shown below into Redirect URIs."),
        Step(
            "Enforce scopes",
            "Turn on Enforce Scopes, tick Allow Include Parameters, and enable every scope in the table below.",
        ),
        Step("Save and turn it on", "Click Save. The new key is Off by default: switch it On."),
        Step(
            "Copy the key ID and secret now",
            "Copy the key ID from the Details column, and the secret with Show Key while the new key is in front "
            "of you: some Canvas accounts later show only a 5-character hint of it. Never regenerate the secret of "
            "a key in use for us: that ends every integration using the key. If the secret is lost, create a new "
            "key.",
        ),
        Step(
            "Submit it here",
            "Submit both below with your Canvas address. We email a {code_digits}-digit code to an admin address "
            "we have on file for you.",
        ),
    ),
    renewal_steps=(
        "Check on Admin → Developer Keys that the {partner} key is still On "
        "and has the scopes listed on the page below.",
        "If you created a new key, submit it on the page below.",
    ),
)


OAUTH_CALLBACK_PATH = "/oauth/canvas/callback"


def keydrop_callback_url() -> str:
    return settings.PORTAL_BASE_URL + OAUTH_CALLBACK_PATH


def keydrop_completes_grants() -> bool:
    """Keydrop's own callback is the key's redirect URI unless the partner lists its own."""
    return not settings.PORTAL_DEVELOPER_KEY["redirect_uris"]


def developer_key_setup(institution_slug: str) -> dict:
    """The partner's developer-key requirements: scopes, redirect URIs, toggles.

    With Keydrop's own callback there is one redirect URI, and the scope that lets Keydrop confirm
    a grant (``GET /api/v1/users/self``) joins the partner's. With the partner's own callbacks
    (one per hosting region), Keydrop checks the key and the partner completes the grant.
    """
    setup = dict(settings.PORTAL_DEVELOPER_KEY)
    setup["keydrop_callback"] = keydrop_completes_grants()
    if setup["keydrop_callback"]:
        setup["redirect_uris"] = [("", keydrop_callback_url())]
        if USERS_SELF_SCOPE not in [scope for scope, _ in setup["scopes"]]:
            setup["scopes"] = [*setup["scopes"], (USERS_SELF_SCOPE, "Users")]
    else:
        setup["redirect_uris"] = [
            (region, uri.format(institution=institution_slug)) for region, uri in setup["redirect_uris"]
        ]
    return setup


def developer_key_api_calls(setup: dict, partner_name: str) -> list[str]:
    """The developer-key setup as two Developer Keys API calls (reference § 2.3), for an admin who
    would rather paste a command than tick every scope: create the key, then switch it On."""
    base, auth = "https://YOUR-CANVAS", '-H "Authorization: Bearer $CANVAS_ADMIN_TOKEN"'
    fields = [
        ("developer_key[name]", partner_name),
        ("developer_key[email]", "YOUR-ADMIN-EMAIL"),
        *(("developer_key[redirect_uris][]", uri) for _, uri in setup["redirect_uris"]),
        *(("developer_key[scopes][]", scope) for scope, _ in setup["scopes"]),
        ("developer_key[require_scopes]", "true" if setup["enforce_scopes"] else "false"),
        ("developer_key[allow_includes]", "true" if setup["allow_include_parameters"] else "false"),
    ]
    create = " \\\n  ".join(
        [f"curl -X POST {base}/api/v1/accounts/self/developer_keys {auth}"]
        + [f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in fields]
    )
    switch_on = (
        f"curl -X POST {base}/api/v1/accounts/self/developer_keys/KEY_ID/developer_key_account_bindings {auth}"
        " \\\n  --data-urlencode 'developer_key_account_binding[workflow_state]=on'"
    )
    return [create, switch_on]
