from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SigninConfig(AppConfig):
    default = True
    name = "portal.signin"
    label = "signin"
    verbose_name = "Staff sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from portal import schedules
        from portal.signin import receivers  # noqa: F401  (counts failed passwords)
        from portal.signin.tasks import SCHEDULES

        schedules.register(self, SCHEDULES)


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, serving Keydrop's admin site: `admin.site` and `@admin.register` keep working."""

    default = False  # named explicitly in INSTALLED_APPS, in place of django.contrib.admin
    default_site = "portal.signin.sites.StaffAdminSite"
