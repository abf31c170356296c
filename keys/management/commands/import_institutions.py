from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.utils import timezone

from keys import audit
from keys.onboarding import institution_csv


class Command(BaseCommand):
    help = (
        "Add or update institutions and their admin contacts from a CSV file with the header "
        "name,slug,canvas_url,time_zone,contacts (contacts separated by ;). Idempotent by slug. "
        "If any row is bad, nothing is imported and every bad line is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file, UTF-8, as a spreadsheet saves it")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and say what would change; write nothing"
        )

    def handle(self, *args, file, dry_run, **options):
        try:
            with open(file, "rb") as handle:
                data = handle.read(institution_csv.MAX_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error
        try:
            plan = institution_csv.read(institution_csv.decode(data))
        except institution_csv.FileRefused as refused:
            raise CommandError(f"Nothing imported: {refused}") from refused
        if not plan.ok:
            for error in plan.errors:
                self.stderr.write(str(error))
            raise CommandError(f"Nothing imported: {len(plan.errors)} bad row(s). Fix them and import the file again.")
        if dry_run:
            self.stdout.write(f"Would import: {plan.summary()}. Nothing was written (--dry-run).")
            return
        now = timezone.now()
        try:
            applied = institution_csv.apply(plan, now, actor=audit.cli_actor(), filename=file.rsplit("/", 1)[-1])
        except (IntegrityError, ValueError) as error:
            raise CommandError("Nothing imported: the institutions changed while importing. Run it again.") from error
        self.stdout.write(f"Imported {len(plan.rows)} row(s): {applied}.")
