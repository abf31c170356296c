from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from intake import views as intake_views
from keys import calendar as keys_calendar
from keys.pipelines.api import api as pipeline_api
from portal import branding
from portal import views as portal_views

# The templates show the partner's brand (templates/admin/base_site.html); these are the fallbacks.
admin.site.site_header = f"{settings.PORTAL_PARTNER_NAME} credentials"
admin.site.site_title = f"{settings.PORTAL_PARTNER_NAME} credentials"
admin.site.index_title = "Credentials"

urlpatterns = [
    path("", intake_views.home, name="home"),
    path("health/", portal_views.health, name="health"),
    path("admin/", admin.site.urls),
    path("brand.css", branding.stylesheet, name="brand_css"),
    # Outside the admin login: calendar apps cannot sign in, so the token in the address is the key.
    path("calendar/<slug:token>.ics", keys_calendar.feed, name="calendar_feed"),
    # Pipelines: JSON with a bearer token; no session, no CSRF (keys/pipelines/api.py).
    path("api/v1/", pipeline_api.urls),
    path("", include("intake.urls")),
]

# Error pages in the portal's look (portal/errors.py).
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.not_found"
handler500 = "portal.errors.server_error"
