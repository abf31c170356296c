from django.apps import AppConfig
from django.db.models.signals import post_migrate


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "Credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from keys.tasks import SCHEDULES
        from portal.schedules import ensure_schedules

        post_migrate.connect(lambda **kwargs: ensure_schedules(SCHEDULES), sender=self, weak=False, dispatch_uid="keys.schedules")
