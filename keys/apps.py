from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from keys import signin_audit  # noqa: F401  (sign-in events go to the audit trail)
        from keys.instructure import outbound  # noqa: F401  (registers its system checks)
        from keys.tasks import SCHEDULES
        from portal import schedules

        schedules.register(self, SCHEDULES)
