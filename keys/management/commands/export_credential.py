"""Print an institution's current working credential for a data pipeline, and record that it did.

A developer key's grant has one access token, and a refresh kills it (keys/instructure/grant_tokens.py), so
Keydrop must be the grant's only refresher: the refresh token is printed only on request
(``--include-refresh-token``), noted in the export's audit event and warned about on stderr."""

import contextlib
import json
import shlex

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import audit, kinds, staff
from keys.instructure import answers, outbound
from keys.models import CanvasGrant, Credential, Institution
from keys.sealing import SecretUnreadable

# Below this many days left, stderr says so: a pipeline log is where someone will notice.
WARN_DAYS = 14
REFRESH_TOKEN_WARNING = (
    "Warning: this export includes the grant's refresh token. Canvas keeps one access token per grant: "
    "each refresh by your pipeline kills the token Keydrop holds and has handed out, and Keydrop's own checks "
    "and access-token exports become unreliable. Keydrop must be the grant's only refresher; prefer --access-token."
)


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
        parser.add_argument(
            "--access-token",
            action="store_true",
            help=(
                "Print only a short-lived access token and its expiry instead of any long-lived secret: "
                "CANVAS_BASE_URL and CANVAS_ACCESS_TOKEN for a developer key (the grant's current token, which "
                "works until the stated expiry), DAP_API_URL and DAP_ACCESS_TOKEN for a Canvas Data 2 key"
            ),
        )
        parser.add_argument(
            "--include-refresh-token",
            action="store_true",
            help=(
                "Developer key only: also print CANVAS_REFRESH_TOKEN. A pipeline that refreshes kills the token "
                "Keydrop holds (Canvas keeps one per grant); the export's audit event says so, and stderr warns"
            ),
        )

    @sensitive_variables("secret", "values", "token")
    def handle(self, *args, institution, kind, output_format, access_token, include_refresh_token, **options):
        spec = kinds.get(kind)
        if include_refresh_token and (access_token or not spec.needs_grant):
            raise CommandError("--include-refresh-token goes with a developer key's full export, not --access-token.")
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
        if credential.awaits_authorization:
            raise CommandError(
                f"{found.name}'s {spec.label} is awaiting authorization: no Canvas admin has granted access yet, "
                f"or Canvas ended the grant. Send the admins {credential.authorization_url()}"
            )
        with self._refusals():
            detail = f"format {output_format}"
            if access_token:
                values = self._access_token(credential, now, detail)
            else:
                values = self._credential(credential, now, detail, include_refresh_token)
        if output_format == "json":
            self.stdout.write(json.dumps(values))
        else:
            # shlex.quote: any value, whatever it holds, reads back verbatim in a POSIX shell.
            self.stdout.write("".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items()), ending="")
        if "CANVAS_REFRESH_TOKEN" in values:
            self.stderr.write(REFRESH_TOKEN_WARNING)
        self._warn_if_expiring(credential, now)

    @sensitive_variables("secret", "sealed")
    def _credential(self, credential: Credential, now, detail: str, include_refresh_token: bool) -> dict[str, str]:
        sealed = None
        if include_refresh_token:
            sealed = next(
                iter(
                    CanvasGrant.objects.filter(credential=credential, lost_at__isnull=True).values_list(
                        "refresh_token", flat=True
                    )
                ),
                None,
            )
            if sealed is None:
                raise CommandError(f"{credential.institution.name}'s developer key holds no refresh token to export.")
            # The one audit event says so: whoever reads the trail sees who may now refresh the grant.
            detail = f"{detail}; with the grant's refresh token"
        with transaction.atomic():  # an unreadable refresh token rolls the event back: nothing was printed
            secret = staff.open_secret(
                credential, action=audit.Action.EXPORT, actor=staff.Actor.cli(), now=now, detail=detail
            )
            id_name, secret_name = credential.kind_spec.env_names
            base_name, base_url = credential.kind_spec.base_url(credential)
            values = {base_name: base_url, id_name: credential.client_id, secret_name: secret}
            if sealed is not None:
                values["CANVAS_REFRESH_TOKEN"] = sealed.reveal()
        return values

    @sensitive_variables("token")
    def _access_token(self, credential: Credential, now, detail: str) -> dict[str, str]:
        token = staff.export_access_token(credential, actor=staff.Actor.cli(), now=now, detail=detail)
        expires = timezone.localtime(token.expires_at).isoformat(timespec="seconds")
        base_name, base_url = credential.kind_spec.base_url(credential)
        prefix = base_name.split("_", 1)[0]  # CANVAS_… or DAP_…, as each official client names them
        return {
            base_name: base_url,
            f"{prefix}_ACCESS_TOKEN": token.token,
            f"{prefix}_ACCESS_TOKEN_EXPIRES_AT": expires,
        }

    @contextlib.contextmanager
    def _refusals(self):
        """Every refusal is a message and a non-zero exit, with nothing on stdout."""
        try:
            yield
        except staff.AuditUnavailable as error:
            raise CommandError(
                "The audit trail could not record this export, so nothing was exported. Try again."
            ) from error
        except SecretUnreadable as error:
            raise CommandError(
                "The stored secret cannot be decrypted with the configured SECRET_KEY and PORTAL_ENCRYPTION_KEY "
                "(see rotate_keys in docs/operations.md). Nothing was exported."
            ) from error
        except answers.AccessRefused as error:
            raise CommandError(f"Canvas did not issue an access token: {error} Nothing was exported.") from error
        except outbound.OutboundError as error:
            raise CommandError(f"Canvas could not be reached ({error}). Nothing was exported; try again.") from error

    def _warn_if_expiring(self, credential: Credential, now) -> None:
        days = credential.days_left(now)
        if days is not None and days <= WARN_DAYS:
            self.stderr.write(
                f"Note: this {credential.kind_spec.label} of {credential.institution.name} expires on "
                f"{credential.expires_on():%Y-%m-%d} ({days} day{'s' if days != 1 else ''} left)."
            )
