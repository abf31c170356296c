"""The restore drill: open every stored secret in memory with the keys at hand, and say how many open.

    python manage.py check_secrets

Prints counts and the rows that do not open (model and primary key), never a secret; exit status
1 if any row does not open. Run it on a restored copy with the keys from your secret store: if
every secret opens, the backup and the keys belong together.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from keys.sealing import SecretUnreadable, fernet, sealed_fields


class Command(BaseCommand):
    help = "Open every stored secret in memory with the configured keys; report how many open and which rows do not."
    # A restore drill may run where mail and links are not configured; the keys are checked below.
    requires_system_checks = []

    def handle(self, *args, **options):
        try:
            cipher = fernet()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        opened, unreadable = 0, []
        for model, field in sealed_fields():
            rows = model._default_manager.filter(**{f"{field.name}__isnull": False}).values_list("pk", field.name)
            for pk, sealed in rows.iterator(chunk_size=500):
                try:
                    sealed.reveal(cipher)  # opened in memory and dropped
                except SecretUnreadable:
                    unreadable.append(f"{model._meta.label}#{pk}")
                else:
                    opened += 1
        total = opened + len(unreadable)
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} of {total} stored secret(s) do not open with these keys: "
                + ", ".join(unreadable[:50])
                + (f" and {len(unreadable) - 50} more" if len(unreadable) > 50 else "")
                + ". Use the SECRET_KEY and PORTAL_ENCRYPTION_KEY that were in use when the backup was taken."
            )
        self.stdout.write(f"All {total} stored secret(s) open with these keys.")
