from django.core.management.base import BaseCommand
from django.utils import timezone

from keys import audit
from keys.onboarding import institution_csv


class Command(BaseCommand):
    help = "Write every institution and its admin contacts as CSV, in the format import_institutions reads."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", "-o", default="-", help="a file to write, or - for standard output (the default)"
        )

    def handle(self, *args, output, **options):
        text = institution_csv.export_text()
        if output == "-":
            self.stdout.write(text, ending="")
        else:
            with open(output, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        rows = text.count("\n") - 1
        audit.record(
            audit.Action.EXPORT_LIST,
            actor=audit.cli_actor(),
            at=timezone.now(),
            detail=f"institutions CSV: {rows} row(s)",
        )
