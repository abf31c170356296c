"""Parts of pages and emails that are the same for every customer, rendered once per process.

Templates wrap such a part in Django's own fragment cache, `{% cache None name fragments kind.slug %}`,
which uses the "template_fragments" cache (a per-process memory cache, settings.CACHES). Each part is
keyed by what it depends on: its own keys in the tag (the kind, the key type chosen), and `fragments`,
this version of everything else such a part may show: the partner's name, brand and addresses, the
verification rules' numbers, the developer-key file's requirements, the static files' addresses.
A changed setting is a new key, so nothing stale is ever shown. Never a secret, a code or anything
of one customer's inside such a part: they are the same for everyone by construction.
"""

import functools
import hashlib

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static
from django.urls import reverse

from intake import rules
from portal.branding import brand


@functools.cache
def version() -> str:
    depends_on = (
        settings.PORTAL_PARTNER_NAME,
        settings.PORTAL_PARTNER_KEY_EMAIL,
        settings.PORTAL_SUPPORT_EMAIL,
        settings.PORTAL_BASE_URL,
        brand(),
        sorted(rules.terms().items()),
        settings.PORTAL_DEVELOPER_KEY,
        settings.STATIC_URL,
        settings.STORAGES["staticfiles"],
        settings.DEBUG and settings.PORTAL_USING_LOCAL_KEYS,
    )
    return hashlib.blake2b(repr(depends_on).encode(), digest_size=12).hexdigest()


@functools.cache
def layout() -> dict:
    """What every page and email states that only the settings change, worked out once per process."""
    return {
        "partner_name": settings.PORTAL_PARTNER_NAME,
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "brand": brand(),
        "insecure_local_defaults": settings.DEBUG and settings.PORTAL_USING_LOCAL_KEYS,
        "rules": rules.terms(),  # a page or email that states a verification number reads it here
        "fragments": version(),  # the key of the parts rendered once
    }


@functools.cache
def page_layout() -> dict:
    """The layout's values and the addresses of its stylesheets and script, for every page
    (portal.context_processors.branding). Pages only: emails link no static file."""
    return {
        **layout(),
        "assets": {
            "stylesheet": static("portal/keydrop.css"),
            "brand_stylesheet": reverse("brand_css"),
            "script": static("portal/keydrop.js"),
        },
    }


@receiver(setting_changed)
def settings_changed(**kwargs) -> None:
    for cached in (version, layout, page_layout):
        cached.cache_clear()
