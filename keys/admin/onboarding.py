"""Partner staff at scale: import and export institutions as CSV, and start campaigns from the list.

Thin views over ``keys.onboarding.institution_csv`` and ``keys.onboarding.campaigns``, mixed into
the institutions admin (``InstitutionOnboarding``).
"""

import io

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods

from keys import audit, kinds, spreadsheet
from keys.admin.credential_views import may_export
from keys.admin.filters import StrictListFilter
from keys.models import AdminContact, Campaign, CampaignInvitation, CampaignMessage, Institution, InstitutionImport
from keys.onboarding import campaigns, institution_csv
from keys.templatetags.keydrop_admin import days_left, status_badge
from portal.client import client_ip

CAMPAIGN_PERMISSION = "keys.add_campaign"
IMPORT_PERMISSIONS = ("keys.add_institution", "keys.change_institution")
GET_OR_POST = require_http_methods(["GET", "POST"])
PREVIEW_ROWS = 50


def csv_response(rows, filename: str) -> HttpResponse:
    out = io.StringIO()
    spreadsheet.writer(out).writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class WorkingKeyFilter(StrictListFilter):
    """Who to invite: institutions without a working key of a kind, or that never handed one over."""

    title = "working key"
    parameter_name = "working_key"
    NEVER = "never"

    def lookups(self, request, model_admin):
        return [(f"none-{kind.slug}", f"No working {kind.label}") for kind in kinds.KINDS.values()] + [
            (self.NEVER, "Never handed over a key")
        ]

    def filter(self, queryset, value):
        if value == self.NEVER:
            return campaigns.never_handed_over(queryset)
        return campaigns.without_working_key(value.removeprefix("none-"), timezone.now(), queryset)


# Institutions --------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Institutions file (CSV)",
        help_text=(
            "UTF-8 CSV with the header name,slug,canvas_url,time_zone,contacts; separate several contacts with ;."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="For your own records, e.g. “Canvas Data 2 autumn onboarding”.")
    kind = forms.ChoiceField(choices=kinds.CHOICES, label="Key to ask for")
    chase_after_days = forms.IntegerField(
        min_value=1,
        max_value=90,
        label="Chase after (days)",
        help_text="Days after the previous email before a chaser goes out.",
    )
    max_chasers = forms.IntegerField(
        min_value=0,
        max_value=Campaign.MAX_CHASERS_LIMIT,
        label="Chasers at most",
        help_text="Chasing stops the moment a key is verified.",
    )


class InstitutionOnboarding:
    """The institutions admin's bulk tools: CSV import with a preview, export, campaigns."""

    def has_campaign_permission(self, request):
        return request.user.has_perm(CAMPAIGN_PERMISSION)

    def _may_import(self, request) -> bool:
        return request.user.has_perms(IMPORT_PERMISSIONS)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="keys_institution_import"),
            path("import/<int:pk>/", wrap(self.import_preview_view), name="keys_institution_import_preview"),
            path("export.csv", wrap(self.export_view), name="keys_institution_export"),
            path("sample.csv", wrap(self.sample_view), name="keys_institution_sample"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_import": self._may_import(request)}
        return super().changelist_view(request, extra_context)

    # Import ----------------------------------------------------------------------------------

    def _page(self, request, title, **context):
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context}

    @method_decorator(GET_OR_POST)
    def import_view(self, request):
        if not self._may_import(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        status, file_error = 200, None
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                text = institution_csv.decode(upload.read(institution_csv.MAX_BYTES + 1))
                plan = institution_csv.read(text)
            except institution_csv.FileRefused as refused:
                file_error, status = str(refused), 400
            else:
                if plan.ok:
                    staged = InstitutionImport.objects.create(
                        filename=upload.name[:255],
                        content=text,
                        uploaded_by=audit.staff_actor(request),
                        summary=plan.summary(),
                    )
                    return redirect("admin:keys_institution_import_preview", staged.pk)
                context = self._page(
                    request, "Nothing imported: fix these rows", form=ImportForm(), plan=plan, filename=upload.name
                )
                return TemplateResponse(request, "admin/keys/institution/import.html", context, status=400)
        elif form.is_bound:
            status = 400
        context = self._page(request, "Import institutions", form=form, file_error=file_error)
        return TemplateResponse(request, "admin/keys/institution/import.html", context, status=status)

    @method_decorator(GET_OR_POST)
    def import_preview_view(self, request, pk):
        if not self._may_import(request):
            raise PermissionDenied
        staged = InstitutionImport.objects.filter(pk=pk).first()
        if staged is None:
            raise Http404("No such import")
        if staged.applied_at:
            self.message_user(request, f"That file was already imported: {staged.summary}.", messages.INFO)
            return redirect("admin:keys_institution_changelist")
        plan = institution_csv.read(staged.content)
        if request.method == "POST" and plan.ok:
            now = timezone.now()
            try:
                with transaction.atomic():
                    # Claimed first: a double click or two staff confirming apply the file once.
                    if not InstitutionImport.objects.filter(pk=pk, applied_at__isnull=True).update(applied_at=now):
                        self.message_user(request, "That file was already imported.", messages.INFO)
                        return redirect("admin:keys_institution_changelist")
                    applied = institution_csv.apply(
                        plan, now, actor=audit.staff_actor(request), ip=client_ip(request), filename=staged.filename
                    )
                    InstitutionImport.objects.filter(pk=pk).update(summary=str(applied)[:300])
            except (IntegrityError, ValueError):
                self.message_user(
                    request,
                    "The institutions changed while importing; nothing was imported. Try again.",
                    messages.ERROR,
                )
                return redirect("admin:keys_institution_import_preview", pk)
            self.message_user(request, f"Imported {staged.filename}: {applied}.", messages.SUCCESS)
            return redirect("admin:keys_institution_changelist")
        context = self._page(
            request,
            f"Import {staged.filename}?" if plan.ok else "Nothing can be imported from this file now",
            staged=staged,
            plan=plan,
            new_rows=plan.new[:PREVIEW_ROWS],
            changed_rows=plan.changed[:PREVIEW_ROWS],
            preview_rows=PREVIEW_ROWS,
        )
        return TemplateResponse(
            request, "admin/keys/institution/import_preview.html", context, status=200 if plan.ok else 400
        )

    def export_view(self, request):
        if not may_export(self, request):
            raise PermissionDenied
        now = timezone.now()
        text = institution_csv.export_text()
        audit.record(
            audit.Action.EXPORT_LIST,
            actor=audit.staff_actor(request),
            ip=client_ip(request),
            at=now,
            detail=f"institutions CSV: {text.count(chr(10)) - 1} row(s)",
        )
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="institutions-{timezone.localtime(now):%Y%m%d-%H%M}.csv"'
        )
        response["Cache-Control"] = "no-store"
        return response

    def sample_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        sample = settings.BASE_DIR / "deploy" / "institutions.sample.csv"
        return FileResponse(
            open(sample, "rb"), as_attachment=True, filename="institutions-sample.csv", content_type="text/csv"
        )

    # Campaigns -------------------------------------------------------------------------------

    @admin.action(
        description="Invite the selected institutions (start a campaign with chasers)", permissions=["campaign"]
    )
    def start_campaign(self, request, queryset):
        selected = Institution.objects.filter(pk__in=queryset.values("pk"))
        working_filter = request.GET.get(WorkingKeyFilter.parameter_name, "")
        kind = (
            working_filter.removeprefix("none-")
            if working_filter.removeprefix("none-") in kinds.KINDS
            else kinds.DAP.slug
        )
        confirmed = request.POST.get("confirm") == "yes"
        form = CampaignForm(
            request.POST if confirmed else None,
            initial={
                "name": f"{kinds.get(kind).label}, {timezone.localdate():%-d %B %Y}",
                "kind": kind,
                "chase_after_days": settings.PORTAL_CAMPAIGN_CHASE_AFTER_DAYS,
                "max_chasers": min(settings.PORTAL_CAMPAIGN_MAX_CHASERS, Campaign.MAX_CHASERS_LIMIT),
            },
        )
        if confirmed and form.is_valid():
            data = form.cleaned_data
            started = campaigns.start(
                selected,
                kind=data["kind"],
                name=data["name"],
                actor=audit.staff_actor(request),
                ip=client_ip(request),
                now=timezone.now(),
                chase_after_days=data["chase_after_days"],
                max_chasers=data["max_chasers"],
            )
            notes = []
            if started.taken:
                notes.append(f"{started.taken} already in an open campaign for this key")
            if started.without_contacts:
                notes.append(f"{started.without_contacts} without a contact on file")
            suffix = f" Not invited: {'; '.join(notes)}." if notes else ""
            if started.campaign is None:
                self.message_user(request, "Nobody to invite." + suffix, messages.WARNING)
                return None
            self.message_user(
                request,
                f"Campaign started: {started.contacts} contact(s) at {started.institutions} institution(s) are invited "
                f"within a minute.{suffix}",
                messages.SUCCESS,
            )
            return redirect("admin:keys_campaign_change", started.campaign.pk)
        select_across = request.POST.get("select_across") == "1"
        context = self._page(
            request,
            "Invite institutions",
            form=form,
            count=selected.count(),
            reachable=selected.filter(Exists(AdminContact.objects.filter(institution=OuterRef("pk")))).count(),
            select_across=select_across,
            # The rows ticked on the page (at most a page's worth) go back even with "select all":
            # the admin runs no action without one, and select_across then widens it to the filtered list.
            selected_pks=request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            action_name="start_campaign",
            action_checkbox_name=admin.helpers.ACTION_CHECKBOX_NAME,
        )
        return TemplateResponse(
            request, "admin/keys/institution/campaign_start.html", context, status=400 if form.is_bound else 200
        )

    # The institution's page -----------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        institution = self.get_object(request, unquote(object_id)) if object_id else None
        if institution is not None:
            extra_context = {**(extra_context or {}), **institution_history(institution)}
        return super().change_view(request, object_id, form_url, extra_context)


def institution_history(institution) -> dict:
    """Every key staff may see, newest first, and every campaign the institution was in."""
    now = timezone.now()
    credentials = (
        institution.credentials.visible_to_staff().defer("secret").order_by("-verified_at", "-submitted_at", "-pk")
    )
    keys = [
        {
            "credential": credential,
            "status": status_badge(credential),
            "days_left": days_left(credential, now),
            "url": reverse("admin:keys_credential_change", args=[credential.pk]),
        }
        for credential in credentials
    ]
    invitations = (
        CampaignInvitation.objects.filter(institution=institution)
        .with_chase(now)
        .select_related("campaign")
        .annotate(sent=Count("messages", filter=Q(messages__state=CampaignMessage.State.SENT)))
        .order_by("-campaign__created_at")
    )
    history = [{"invitation": i, "stage": campaigns.STAGE_LABELS[campaigns.stage_of(i)]} for i in invitations]
    return {"institution_keys": keys, "campaign_history": history}
