"""Optional single sign-on for staff through OpenID Connect (mozilla-django-oidc).

Off unless OIDC_RP_CLIENT_ID is set. It signs in existing, active staff accounts whose e-mail
address the provider vouches for; it never creates an account or grants a permission. Whether the
provider's sign-in also counts as the second factor is the partner's call
(PORTAL_SSO_SATISFIES_SECOND_FACTOR); otherwise Keydrop asks for its own code as after a password.
No token of the provider is kept in the session.
"""

import datetime
import logging

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from portal.signin import second_factor

BACKEND = "portal.signin.sso.StaffOIDCBackend"
log = logging.getLogger(__name__)


class StaffOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, ValueError, SuspiciousOperation) as exc:
            # The provider is down or answers nonsense, or its token fails a check: a failed sign-in, not an error page.
            log.warning("single sign-on failed: %s", type(exc).__name__)
            return None

    def filter_users_by_claims(self, claims):
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            return get_user_model().objects.none()
        return get_user_model().objects.filter(email__iexact=email, is_active=True, is_staff=True)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        # The library checks signature, expiry and nonce; the token must also be meant for this portal.
        audience = payload.get("aud")
        if settings.OIDC_RP_CLIENT_ID not in (audience if isinstance(audience, list) else [audience]):
            raise SuspiciousOperation("The ID token was issued to another client.")
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

    def login_success(self):
        response = super().login_success()  # signs in, unless this session is already this user's
        if settings.PORTAL_SSO_SATISFIES_SECOND_FACTOR:
            # The second factor was checked when the person authenticated at the provider.
            auth_time = getattr(self.request, "keydrop_sso_auth_time", None)
            now = timezone.now()
            at = datetime.datetime.fromtimestamp(auth_time, tz=datetime.UTC) if auth_time else now
            second_factor.mark_checked(self.request, by="idp", now=min(at, now))
        return response


def start_view():
    return SSOStart.as_view()


def callback_view():
    return SSOCallback.as_view()
