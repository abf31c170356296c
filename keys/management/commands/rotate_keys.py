"""Re-encrypt every stored secret under the current keys, so SECRET_KEY and
PORTAL_ENCRYPTION_KEY can be rotated without losing one secret.

    OLD_SECRET_KEY=… OLD_PORTAL_ENCRYPTION_KEY=… SECRET_KEY=new… PORTAL_ENCRYPTION_KEY=new… \\
        python manage.py rotate_keys

Old keys come from the environment, never the command line (which other users can see).
All rows change in one transaction: if any secret cannot be opened with either pair of keys,
nothing is changed and the command names the rows.
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from keys.sealing import SecretUnreadable, fernet, sealed_fields


class Command(BaseCommand):
    help = "Re-encrypt all stored secrets with the current keys, reading old ones from OLD_SECRET_KEY / OLD_PORTAL_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="check every secret opens, change nothing")

    def handle(self, *args, dry_run, **options):
        old_signing = os.getenv("OLD_SECRET_KEY") or settings.SECRET_KEY
        old_encryption = os.getenv("OLD_PORTAL_ENCRYPTION_KEY") or settings.PORTAL_ENCRYPTION_KEY
        current, old = fernet(), fernet(old_encryption, old_signing)
        rotated = unchanged = 0
        unreadable = []
        with transaction.atomic():
            for model, field in sealed_fields():
                rows = model._default_manager.filter(**{f"{field.name}__isnull": False}).values_list("pk", field.name)
                for pk, sealed in rows.iterator(chunk_size=500):
                    try:
                        sealed.reveal(current)
                        unchanged += 1
                        continue
                    except SecretUnreadable:
                        pass
                    try:
                        plaintext = sealed.reveal(old)
                    except SecretUnreadable:
                        unreadable.append(f"{model._meta.label}#{pk}")
                        continue
                    resealed = type(sealed).seal(plaintext, current)
                    # Conditional: a row changed meanwhile (purged, replaced) is left as it is.
                    rotated += model._default_manager.filter(pk=pk, **{field.name: sealed}).update(
                        **{field.name: resealed}
                    )
            if unreadable:
                transaction.set_rollback(True)
                raise CommandError(
                    f"{len(unreadable)} secret(s) open with neither the current nor the old keys; nothing was changed: "
                    + ", ".join(unreadable[:20])
                )
            if dry_run:
                transaction.set_rollback(True)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(f"{verb} {rotated} secret(s); {unchanged} already under the current keys.")
