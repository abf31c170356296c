from django.conf import settings

from intake import rules
from portal import fragments
from portal.branding import brand


def branding(request):
    return {
        "partner_name": settings.PORTAL_PARTNER_NAME,
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "brand": brand(),
        "insecure_local_defaults": settings.DEBUG and settings.PORTAL_USING_LOCAL_KEYS,
        "rules": rules.terms(),  # a page that states a verification number reads it here
        "fragments": fragments.version(),  # the key of the parts rendered once (portal/fragments.py)
    }
