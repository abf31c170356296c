"""Onboarding campaigns: their list, each campaign's funnel and its non-responders."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from keys import audit, display
from keys.admin.base import ReadOnlyAdmin
from keys.admin.credential_views import may_export
from keys.admin.onboarding import CAMPAIGN_PERMISSION, csv_response
from keys.models import Campaign, CampaignInvitation, CampaignMessage
from keys.onboarding import campaigns
from portal.client import client_ip


class CampaignPages(ReadOnlyAdmin):
    """A campaign's pages: the funnel, every institution's stage, who has not responded. Read-only:
    campaigns start from the institutions list, or with `manage.py invite`."""

    list_display = ["name", "kind_label", "started", "institution_count", "open_count", "closed"]
    list_filter = ["kind"]
    search_fields = ["name", "invitations__institution__name", "invitations__institution__slug"]
    fields = ["name", "kind_label", "created_by", "created_at", "chase_after_days", "max_chasers", "closed_at"]
    readonly_fields = fields
    change_form_template = "admin/keys/campaign/change_form.html"
    list_per_page = 100

    def get_queryset(self, request):
        # "Still chased" as the campaign's own page reads it (CampaignInvitationQuerySet.with_chase).
        chased = (
            CampaignInvitation.objects.filter(campaign=OuterRef("pk"))
            .with_chase(timezone.now())
            .filter(chased=True)
            .order_by()
            .values("campaign")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                institution_count=Count("invitations", distinct=True),
                open_count=Coalesce(Subquery(chased), 0),
            )
        )

    @admin.display(description="Key", ordering="kind")
    def kind_label(self, campaign):
        return campaign.kind_spec.label

    @admin.display(description="Started", ordering="created_at")
    def started(self, campaign):
        return format_html("{}<br>by {}", display.day(timezone.localdate(campaign.created_at)), campaign.created_by)

    @admin.display(description="Closed", ordering="closed_at")
    def closed(self, campaign):
        return display.day(timezone.localdate(campaign.closed_at)) if campaign.closed_at else display.EMPTY

    @admin.display(description="Institutions", ordering="institution_count")
    def institution_count(self, campaign):
        return campaign.institution_count

    @admin.display(description="Still chased", ordering="open_count")
    def open_count(self, campaign):
        return campaign.open_count

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/not-responded.csv", wrap(self.not_responded_view), name="keys_campaign_not_responded"
            ),
            path("<path:object_id>/close/", wrap(self.close_view), name="keys_campaign_close"),
            *super().get_urls(),
        ]

    def _campaign(self, request, object_id) -> Campaign:
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404("No such campaign")
        return campaign

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, unquote(object_id))
        if campaign is not None:
            now = timezone.now()
            only_waiting = request.GET.get("stage") == "not_responded"
            invitations = (
                campaign.invitations.with_chase(now)
                .select_related("institution")
                .annotate(sent=Count("messages", filter=Q(messages__state=CampaignMessage.State.SENT)))
            )
            if only_waiting:
                invitations = invitations.filter(submitted=False)
            rows = [
                {
                    "invitation": invitation,
                    "stage": campaigns.stage_of(invitation),
                    "stage_label": campaigns.STAGE_LABELS[campaigns.stage_of(invitation)],
                    "url": reverse("admin:keys_institution_change", args=[invitation.institution_id]),
                }
                for invitation in invitations.order_by("institution__name")
            ]
            extra_context = {
                **(extra_context or {}),
                "funnel": campaigns.funnel(campaign, now),
                "rows": rows,
                "only_waiting": only_waiting,
                "may_close": request.user.has_perm(CAMPAIGN_PERMISSION) and campaign.closed_at is None,
                "messages_sent": CampaignMessage.objects.filter(
                    invitation__campaign=campaign, state=CampaignMessage.State.SENT
                ).count(),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def not_responded_view(self, request, object_id):
        """Who has not handed over a key yet, with their contacts: for a phone call or a letter."""
        if not may_export(self, request):
            raise PermissionDenied
        campaign = self._campaign(request, object_id)
        now = timezone.now()
        waiting = (
            campaign.invitations.not_responded(now)
            .select_related("institution")
            .prefetch_related("institution__contacts")
            .annotate(sent=Count("messages", filter=Q(messages__state=CampaignMessage.State.SENT)))
            .order_by("institution__name")
        )
        rows = [["Institution", "Institution slug", "Contacts", "Stage", "Invited at", "Opened at", "Emails sent"]]
        for invitation in waiting:
            institution = invitation.institution
            rows.append(
                [
                    institution.name,
                    institution.slug,
                    ";".join(contact.email for contact in institution.contacts.all()),
                    campaigns.STAGE_LABELS[campaigns.stage_of(invitation)],
                    timezone.localtime(invitation.invited_at).isoformat() if invitation.invited_at else "",
                    timezone.localtime(invitation.opened_at).isoformat() if invitation.opened_at else "",
                    invitation.sent,
                ]
            )
        audit.record(
            audit.Action.EXPORT_LIST,
            actor=audit.staff_actor(request),
            ip=client_ip(request),
            at=now,
            detail=f"campaign {campaign.pk} not responded: {len(rows) - 1} row(s)",
        )
        return csv_response(rows, f"campaign-{campaign.pk}-not-responded.csv")

    @method_decorator(require_POST)
    def close_view(self, request, object_id):
        if not request.user.has_perm(CAMPAIGN_PERMISSION):
            raise PermissionDenied
        campaign = self._campaign(request, object_id)
        now = timezone.now()
        with transaction.atomic():
            if Campaign.objects.filter(pk=campaign.pk, closed_at__isnull=True).update(closed_at=now):
                for invitation in campaign.invitations.filter(is_open=True):
                    campaigns.close(invitation, now, "The campaign was closed by staff.")
                audit.record(
                    audit.Action.CAMPAIGN,
                    actor=audit.staff_actor(request),
                    ip=client_ip(request),
                    at=now,
                    detail=f"{campaign.name}: closed; no more emails",
                )
        self.message_user(request, "The campaign is closed: no more invitations or chasers go out.", messages.SUCCESS)
        return redirect("admin:keys_campaign_change", campaign.pk)


@admin.register(Campaign)
class CampaignAdmin(CampaignPages):
    """Invitation campaigns, read-only: started from the institutions list."""
