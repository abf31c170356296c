"""Declare django-q2 schedules in code; migrate creates or updates them (never at import or start-up)."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils import timezone

# Every schedule declared by an app, by name: /health/ reports any that is missing or not running.
DECLARED: dict[str, dict] = {}


def register(app_config: AppConfig, schedules: list[dict]) -> None:
    """Call from AppConfig.ready(): after each migrate, the app's schedules exist as declared."""
    DECLARED.update({spec["name"]: spec for spec in schedules})
    post_migrate.connect(
        lambda **kwargs: ensure_schedules(schedules),
        sender=app_config,
        weak=False,
        dispatch_uid=f"{app_config.name}.schedules",
    )


def ensure_schedules(schedules: list[dict], **kwargs) -> None:
    """post_migrate receiver body: update_or_create each schedule by its name."""
    from django_q.models import Schedule

    for spec in schedules:
        spec = dict(spec)
        name = spec.pop("name")
        defaults = {"schedule_type": Schedule.MINUTES, "repeats": -1, **spec}
        schedule, created = Schedule.objects.get_or_create(name=name, defaults={**defaults, "next_run": timezone.now()})
        if not created:
            changed = {field: value for field, value in defaults.items() if getattr(schedule, field) != value}
            if changed:
                Schedule.objects.filter(pk=schedule.pk).update(**changed)
