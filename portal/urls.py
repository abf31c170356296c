from django.contrib import admin
from django.urls import include, path

from intake import views as intake_views
from keys import calendar as keys_calendar

admin.site.site_header = "Keydrop"
admin.site.site_title = "Keydrop"
admin.site.index_title = "Credentials"

urlpatterns = [
    path("", intake_views.home, name="home"),
    path("admin/", admin.site.urls),
    # Outside the admin login: calendar apps cannot sign in, so the token in the address is the key.
    path("calendar/<slug:token>.ics", keys_calendar.feed, name="calendar_feed"),
    path("", include("intake.urls")),
]
