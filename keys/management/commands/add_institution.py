from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from keys import staff
from keys.models import AdminContact, Institution


class Command(BaseCommand):
    help = "Add an institution with its admin contacts on file, and print its intake link (last line)."

    def add_arguments(self, parser):
        parser.add_argument("name", help='The institution\'s name, e.g. "Example University"')
        parser.add_argument("--slug", help="Short name for commands and pipelines (default: from the name)")
        parser.add_argument(
            "--contact", action="append", default=[], metavar="EMAIL", help="An admin address on file; repeat for more"
        )
        parser.add_argument("--canvas-url", default="", help="https://example.instructure.com")
        parser.add_argument("--time-zone", default="", help="IANA time zone for expiry dates, e.g. America/Chicago")

    def handle(self, *args, name, slug, contact, canvas_url, time_zone, **options):
        if not contact:
            raise CommandError("Give at least one --contact: verification codes can only go to an address on file.")
        institution = Institution(
            name=name.strip(), slug=slug or slugify(name), canvas_url=canvas_url, time_zone=time_zone
        )
        contacts = [AdminContact(email=email) for email in contact]
        try:
            institution.full_clean()
            for email in contact:
                validate_email(email)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        try:
            with transaction.atomic():
                institution.save()
                for admin_contact in contacts:
                    admin_contact.institution = institution
                    admin_contact.save()
                staff.record_institution_change(institution, None, actor=staff.Actor.cli(), now=timezone.now())
        except IntegrityError as error:
            raise CommandError("That contact is listed twice.") from error
        self.stdout.write(f"Added {institution.name} ({institution.slug}) with {len(contacts)} contact(s).")
        self.stdout.write(institution.intake_url())
