"""The intake page's "Create the key" part: the kind's steps and the developer-key setup.

They are the same for every customer of a kind, so the page renders that part once per process
(portal/fragments.py) and these values are computed only when it does: each is lazy.
"""

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from intake import rules
from keys import kinds


def context(spec: kinds.Kind, institution_slug: str) -> dict:
    partner, partner_email = settings.PORTAL_PARTNER_NAME, settings.PORTAL_PARTNER_KEY_EMAIL
    setup = SimpleLazyObject(lambda: kinds.developer_key_setup(institution_slug) if spec.shows_scopes else {})
    return {
        "steps": SimpleLazyObject(lambda: spec.instructions(partner, **rules.terms())),
        "partner_steps": SimpleLazyObject(
            lambda: (
                spec.instructions(partner, kinds.KeyType.PARTNER, partner_email, **rules.terms())
                if spec.key_types
                else []
            )
        ),
        "developer_key": setup,
        "developer_key_api_calls": SimpleLazyObject(
            lambda: kinds.developer_key_api_calls(setup, partner) if spec.shows_scopes else []
        ),
        # The partner's own redirect URIs may name the institution; Keydrop's callback never does.
        "steps_for": institution_slug if spec.shows_scopes and not kinds.keydrop_completes_grants() else "",
    }
