"""Keydrop's admin site: Django's, with a second factor at the door and no free lookups inside."""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from portal.signin import second_factor
from portal.signin.forms import StaffAuthenticationForm
from portal.signin.lookups import DeclaredFiltersOnly


class StaffAdminSite(admin.AdminSite):
    login_form = StaffAuthenticationForm
    login_template = "admin/signin/login.html"

    def register(self, model_or_iterable, admin_class=None, **options):
        # Every list of the site, third-party ones too, takes only the filters it declares.
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, DeclaredFiltersOnly):
            admin_class = type(
                admin_class.__name__, (DeclaredFiltersOnly, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request):
        return super().has_permission(request) and second_factor.satisfied(request)

    def login(self, request, extra_context=None):
        from portal.signin import views

        user = request.user
        if (
            request.method == "GET"
            and user.is_authenticated
            and user.is_active
            and user.is_staff
            and not second_factor.satisfied(request)
        ):
            return self._second_step(request.GET.get("next") or reverse("admin:index"))
        response = super().login(request, {**views.sso_context(request), **(extra_context or {})})
        if request.method != "POST":
            return response
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.backoff_until is not None:
            views.login_refused_for_backoff(response, form.backoff_until)
        elif response.status_code == 302 and request.user.is_authenticated:
            views.remember_sign_in(request, response)
            if not second_factor.satisfied(request):
                second = self._second_step(response["Location"])
                second.cookies = response.cookies
                return second
        return response

    @staticmethod
    def _second_step(next_url: str):
        return HttpResponseRedirect(reverse("admin:two_step") + "?" + urlencode({"next": next_url}))

    def get_urls(self):
        from portal.signin import sso, views

        return [
            # Anyone signed in may sign out, before the second factor too: Django's admin would only
            # redirect a session it does not let in, and keep it (and a key it was being shown).
            path("logout/", csrf_protect(never_cache(self.logout)), name="logout"),
            path("two-step/", views.two_step, {"site": self}, name="two_step"),
            path("two-step/setup/", views.setup, {"site": self}, name="two_step_setup"),
            path("two-step/enrol/<str:token>/", views.enrol, {"site": self}, name="two_step_enrol"),
            path(
                "two-step/recovery-codes/",
                self.admin_view(views.recovery_codes),
                {"site": self},
                name="two_step_recovery_codes",
            ),
            path("sso/start/", sso.start_view(), name="sso_start"),
            path("sso/callback/", sso.callback_view(), name="sso_callback"),
            *super().get_urls(),
        ]
