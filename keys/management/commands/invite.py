from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from keys import audit, kinds
from keys.management import arguments
from keys.models import Campaign
from keys.onboarding import campaigns


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def at_most_limit(value: str) -> int:
    number = int(value)
    if not 0 <= number <= Campaign.MAX_CHASERS_LIMIT:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Invite every institution that has no working key of KIND: start a campaign, email each admin contact "
        "on file the intake link, and print how many contacts were invited. Chasers follow from the schedule."
    )

    def add_arguments(self, parser):
        parser.add_argument("--without-key", required=True, metavar="KIND", help=f"one of: {', '.join(kinds.KINDS)}")
        parser.add_argument("--name", default="", help="the campaign's name (default: the kind and today's date)")
        parser.add_argument(
            "--chase-after-days", type=positive, default=None, help="days before a chaser (default: the setting)"
        )
        parser.add_argument(
            "--max-chasers",
            type=at_most_limit,
            default=None,
            help=f"chasers at most, 0 to {Campaign.MAX_CHASERS_LIMIT}",
        )
        parser.add_argument(
            "--time-budget",
            type=arguments.time_budget,
            default=600.0,
            help="seconds of sending before the schedule takes over",
        )

    def handle(self, *args, without_key, name, chase_after_days, max_chasers, time_budget, **options):
        if without_key not in kinds.KINDS:
            raise CommandError(f"Unknown kind {without_key!r}. Use one of: {', '.join(kinds.KINDS)}.", returncode=2)
        kind = kinds.get(without_key)
        now = timezone.now()
        started = campaigns.start(
            campaigns.without_working_key(kind.slug, now),
            kind=kind.slug,
            name=name or f"{kind.label}, {timezone.localdate(now):%-d %B %Y}",
            actor=audit.cli_actor(),
            now=now,
            chase_after_days=chase_after_days,
            max_chasers=max_chasers,
        )
        skipped = []
        if started.taken:
            skipped.append(f"{started.taken} institution(s) already in an open campaign for this kind")
        if started.without_contacts:
            skipped.append(f"{started.without_contacts} without a contact on file")
        not_invited = f" Not invited: {'; '.join(skipped)}." if skipped else ""
        if started.campaign is None:
            self.stdout.write("Invited 0 contact(s)." + not_invited)
            return
        report = campaigns.sweep(campaign=started.campaign, time_budget=time_budget)
        later = []
        if report.deferred:
            later.append(f"{report.deferred} email(s) wait for tomorrow (the per-contact daily limit)")
        if report.failed:
            later.append(f"{report.failed} refused by the mail server, retried by the schedule")
        self.stdout.write(
            f"Invited {report.sent} contact(s) at {started.institutions} institution(s) "
            f'in campaign {started.campaign.pk} "{started.campaign.name}".'
            + not_invited
            + (f" Later: {'; '.join(later)}." if later else "")
        )
