"""Optional single sign-on for staff through OpenID Connect (mozilla-django-oidc).

Off unless OIDC_RP_CLIENT_ID is set. It signs in existing, active staff accounts whose e-mail
address the provider vouches for; it never creates an account or grants a permission. Whether the
provider's sign-in also counts as the second factor is the partner's call
(PORTAL_SSO_SATISFIES_SECOND_FACTOR); otherwise Keydrop asks for its own code as after a password.
No token of the provider is kept in the session.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

BACKEND = "signin.sso.StaffOIDCBackend"


class StaffOIDCBackend(OIDCAuthenticationBackend):
    def filter_users_by_claims(self, claims):
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            return get_user_model().objects.none()
        return get_user_model().objects.filter(email__iexact=email, is_active=True, is_staff=True)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        # When the person really authenticated at the provider: the reveal clock starts there.
        auth_time = payload.get("auth_time") if isinstance(payload, dict) else None
        self.request.keydrop_sso_auth_time = auth_time if isinstance(auth_time, (int, float)) else None
        return payload


class SSOStart(OIDCAuthenticationRequestView):
    def dispatch(self, request, *args, **kwargs):
        if not settings.PORTAL_SSO_ENABLED:
            raise Http404("Single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)

    def get_extra_params(self, request):
        params = dict(super().get_extra_params(request))
        if request.GET.get("fresh"):
            params.update(prompt="login", max_age="0")  # a reveal wants the person, not a remembered session
        return params


class SSOCallback(OIDCAuthenticationCallbackView):
    def dispatch(self, request, *args, **kwargs):
        if not settings.PORTAL_SSO_ENABLED:
            raise Http404("Single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)


def start_view():
    return SSOStart.as_view()


def callback_view():
    return SSOCallback.as_view()
