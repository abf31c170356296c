"""Staff accounts and groups in the admin, with every change of who may do what in the audit trail.

A change is recorded as a before/after comparison of the account's flags, groups and direct
permissions (or a group's permissions), after the admin has saved the form and its many-to-many
fields. Another administrator resets a lost second factor here, with a reason, and that is an
audit event too. Passwords and device keys never appear in an event.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods

from keys import audit, staff
from keys.admin.forms import ReasonForm
from portal.signin import second_factor

User = get_user_model()
FLAGS = {"is_active": "active", "is_staff": "staff", "is_superuser": "superuser"}


def _permission_names(permissions) -> list[str]:
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related("content_type"))


def account_snapshot(user) -> dict:
    return {
        "flags": {label: getattr(user, field) for field, label in FLAGS.items()},
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": _permission_names(user.user_permissions.all()),
    }


def _set_changes(label: str, before: list[str], after: list[str]) -> list[str]:
    added, removed = sorted(set(after) - set(before)), sorted(set(before) - set(after))
    return [f"{label} +{name}" for name in added] + [f"{label} -{name}" for name in removed]


def describe_account_change(before: dict | None, after: dict) -> str:
    if before is None:
        flags = [label for label, on in after["flags"].items() if on]
        parts = [f"created ({', '.join(flags) or 'no flags'})"]
        before = {"flags": after["flags"], "groups": [], "permissions": []}
    else:
        parts = [
            f"{label} {'on' if after['flags'][label] else 'off'}"
            for label in after["flags"]
            if before["flags"][label] != after["flags"][label]
        ]
    parts += _set_changes("group", before["groups"], after["groups"])
    parts += _set_changes("permission", before["permissions"], after["permissions"])
    return "; ".join(parts)


class StaffUserAdmin(UserAdmin):
    list_display = [*UserAdmin.list_display, "two_step"]
    change_form_template = "admin/auth/user/keydrop_change_form.html"
    readonly_fields = ["last_login", "date_joined"]  # facts about the account, not settings of it

    @admin.display(description="Two-step")
    def two_step(self, user):
        if second_factor.has_authenticator(user):
            return "on"
        return "required, not set up" if second_factor.required_for(user) else "off"

    def save_model(self, request, obj, form, change):
        request.keydrop_account_before = account_snapshot(User.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = form.instance
        detail = describe_account_change(getattr(request, "keydrop_account_before", None), account_snapshot(user))
        if detail:
            self._record(request, f"{user.get_username()}: {detail}")

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record(request, f"{obj.get_username()}: deleted")
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                self._record(request, f"{user.get_username()}: deleted")
            super().delete_queryset(request, queryset)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            self._record(request, f"{user.get_username()}: password set by an administrator")
        return response

    @staticmethod
    def _record(request, detail: str) -> None:
        actor = staff.Actor.from_request(request)
        audit.record(audit.Action.STAFF_CHANGED, actor=actor.name, ip=actor.ip, detail=detail, at=timezone.now())

    # Resetting a lost second factor ------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<id>/reset-two-step/", wrap(self.reset_two_step_view), name="auth_user_reset_two_step"),
            *super().get_urls(),
        ]

    @method_decorator(require_http_methods(["GET", "POST"]))
    def reset_two_step_view(self, request, id):
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404("No such user")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        change_url = reverse("admin:auth_user_change", args=[user.pk])
        if user.pk == request.user.pk:
            # A stolen password plus a reset would be a new factor: another administrator must do it.
            self.message_user(
                request, "Another administrator must reset your own two-step verification.", messages.ERROR
            )
            return redirect(change_url)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            actor = staff.Actor.from_request(request)
            with transaction.atomic():
                removed = second_factor.reset(user)
                audit.record(
                    audit.Action.SECOND_FACTOR_RESET,
                    actor=actor.name,
                    ip=actor.ip,
                    reason=form.cleaned_data["reason"],
                    detail=f"{user.get_username()}: {removed} device(s) removed; sets it up again at next sign-in",
                    at=timezone.now(),
                )
            self.message_user(
                request,
                f"Two-step verification of {user.get_username()} was reset: they set it up again at next sign-in.",
                messages.SUCCESS,
            )
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": user,
            "title": f"Reset two-step verification of {user.get_username()}?",
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(
            request, "admin/auth/user/reset_two_step.html", context, status=400 if form.is_bound else 200
        )


class StaffGroupAdmin(GroupAdmin):
    def save_model(self, request, obj, form, change):
        request.keydrop_group_before = (
            _permission_names(Group.objects.get(pk=obj.pk).permissions.all()) if change else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        group = form.instance
        before = getattr(request, "keydrop_group_before", None)
        parts = ["created"] if before is None else []
        parts += _set_changes("permission", before or [], _permission_names(group.permissions.all()))
        if parts:
            members = group.user_set.count()
            self._record(request, f"group {group.name} ({members} member(s)): {'; '.join(parts)}")

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record(request, f"group {obj.name}: deleted")
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for group in queryset:
                self._record(request, f"group {group.name}: deleted")
            super().delete_queryset(request, queryset)

    @staticmethod
    def _record(request, detail: str) -> None:
        actor = staff.Actor.from_request(request)
        audit.record(audit.Action.GROUP_CHANGED, actor=actor.name, ip=actor.ip, detail=detail, at=timezone.now())


for model, model_admin in [(User, StaffUserAdmin), (Group, StaffGroupAdmin)]:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
