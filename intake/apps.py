from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from intake.tasks import SCHEDULES
        from portal.schedules import ensure_schedules

        post_migrate.connect(lambda **kwargs: ensure_schedules(SCHEDULES), sender=self, weak=False, dispatch_uid="intake.schedules")
