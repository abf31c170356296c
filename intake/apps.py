from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from intake.tasks import SCHEDULES
        from portal import schedules

        schedules.register(self, SCHEDULES)
