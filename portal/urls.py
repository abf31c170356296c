from django.contrib import admin
from django.urls import include, path

from intake import views as intake_views

admin.site.site_header = "Keydrop"
admin.site.site_title = "Keydrop"
admin.site.index_title = "Credentials"

urlpatterns = [
    path("", intake_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("", include("intake.urls")),
]
