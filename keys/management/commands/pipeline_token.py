"""Pipeline tokens from a shell: create (the last line is the token, shown once), revoke, list."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from keys import audit, kinds
from keys.models import PipelineToken
from keys.pipelines import tokens


class Command(BaseCommand):
    help = (
        "Create, revoke or list pipeline tokens for the API (/api/v1/). `create` prints the token as its last "
        "line, once: Keydrop keeps only its hash. Each change is in the audit trail as cli:<user>."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a token; its last line is the token, shown once")
        create.add_argument("name", help="Names the pipeline in the audit trail (pipeline:NAME), e.g. nightly-sync")
        create.add_argument(
            "--kind", action="append", default=[], choices=list(kinds.KINDS), required=True, help="Repeat for more"
        )
        create.add_argument(
            "--institution", action="append", default=[], metavar="SLUG", help="Only these (repeat); default: all"
        )
        create.add_argument("--expires-in-days", type=int, default=None, metavar="N", help="Default: until revoked")
        create.add_argument(
            "--allow-secrets",
            action="store_true",
            help="It may also read long-lived secrets (Client ID and secret), each read audited like a reveal",
        )
        revoke = actions.add_parser("revoke", help="Revoke a token: its next request gets 401 revoked_token")
        revoke.add_argument("name")
        actions.add_parser("list", help="Every token with its scope, creator, last use and expiry")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name, kind, institution, expires_in_days, allow_secrets, **options):
        try:
            token, plaintext = tokens.create(
                name,
                kind_slugs=kind,
                institution_slugs=institution,
                expires_in_days=expires_in_days,
                allow_secrets=allow_secrets,
                actor=audit.cli_actor(),
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        expiry = f"until {token.expires_at:%Y-%m-%d %H:%M %Z}" if token.expires_at else "until revoked"
        self.stdout.write(f"Created pipeline token {token.name} ({token.scope_summary()}), {expiry}.")
        self.stdout.write("It is shown once; Keydrop keeps only its hash. Send it as 'Authorization: Bearer <token>'.")
        self.stdout.write(plaintext)

    def _revoke(self, *, name, **options):
        token = PipelineToken.objects.filter(name=name).first()
        if token is None:
            raise CommandError(f"No pipeline token is named {name!r}. `pipeline_token list` shows them.")
        if not tokens.revoke(token, actor=audit.cli_actor()):
            raise CommandError(f"The pipeline token {name} was already revoked.")
        self.stdout.write(f"Revoked pipeline token {name}: its next request gets 401 revoked_token.")

    def _list(self, **options):
        now = timezone.now()
        for token in PipelineToken.objects.prefetch_related("institutions"):
            used = f"{timezone.localtime(token.last_used_at):%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            expires = f"{timezone.localtime(token.expires_at):%Y-%m-%d}" if token.expires_at else "never"
            self.stdout.write(
                f"{token.name}\t{token.state(now)}\t{token.scope_summary()}\tby {token.created_by}\t"
                f"last used {used}\texpires {expires}"
            )
