"""Print an institution's current working credential for a data pipeline, and record that it did."""

import json
import shlex

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, staff
from keys.models import Credential, Institution
from keys.sealing import SecretUnreadable

# Below this many days left, stderr says so: a pipeline log is where someone will notice.
WARN_DAYS = 14


class Command(BaseCommand):
    help = (
        "Print the newest usable credential of an institution and kind, as shell variables "
        "(safe to source) or JSON. Every export is recorded in the audit trail as cli:<user>. "
        "On any refusal nothing is printed on stdout and the exit status is non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--institution", required=True, metavar="SLUG", help="The institution's slug, as in the admin"
        )
        parser.add_argument(
            "--kind",
            default=kinds.DEFAULT.slug,
            choices=list(kinds.KINDS),
            help=f"Kind of credential (default: {kinds.DEFAULT.slug})",
        )
        parser.add_argument(
            "--format",
            dest="output_format",
            default="env",
            choices=["env", "json"],
            help="env: NAME=value lines for `set -a; . file` (default); json: one object with the same names",
        )

    @sensitive_variables("secret", "values")
    def handle(self, *args, institution, kind, output_format, **options):
        spec = kinds.get(kind)
        found = Institution.objects.filter(slug=institution).first()
        if found is None:
            raise CommandError(
                f"No institution with the slug {institution!r}. The admin lists every institution's slug."
            )
        now = timezone.now()
        credential = (
            Credential.objects.for_pipeline(now)
            .filter(institution=found, kind=spec.slug)
            .select_related("institution")
            .first()
        )
        if credential is None:
            raise CommandError(
                f"{found.name} has no usable {spec.label}: none is verified, or each one has expired or been revoked. "
                f"Ask the customer to renew at {found.intake_url(spec.slug)}"
            )
        try:
            secret = staff.open_secret(
                credential,
                action=audit.Action.EXPORT,
                actor=staff.Actor.cli(),
                now=now,
                detail=f"format {output_format}",
            )
        except staff.AuditUnavailable as error:
            raise CommandError(
                "The audit trail could not record this export, so nothing was exported. Try again."
            ) from error
        except SecretUnreadable as error:
            raise CommandError(
                "The stored secret cannot be decrypted with the configured SECRET_KEY and PORTAL_ENCRYPTION_KEY "
                "(see rotate_keys in the README). Nothing was exported."
            ) from error
        id_name, secret_name = spec.env_names
        values = {id_name: credential.client_id, secret_name: secret}
        if output_format == "json":
            self.stdout.write(json.dumps(values))
        else:
            # shlex.quote: any value, whatever it holds, reads back verbatim in a POSIX shell.
            self.stdout.write("".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items()), ending="")
        self._warn_if_expiring(credential, now)

    def _warn_if_expiring(self, credential: Credential, now) -> None:
        days = credential.days_left(now)
        if days is not None and days <= WARN_DAYS:
            self.stderr.write(
                f"Note: this {credential.kind_spec.label} of {credential.institution.name} expires on "
                f"{credential.expires_on():%Y-%m-%d} ({days} day{'s' if days != 1 else ''} left)."
            )
