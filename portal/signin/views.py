"""The second-factor pages: enter a code, set up an authenticator, replace recovery codes.

They sit beside the admin rather than inside it, because a session that has not passed its second
factor is not yet allowed into the admin. Each page is sent with no-store: one of them shows a key,
another the recovery codes, once.
"""

import base64
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods
from django_otp import user_has_device

from portal.signin import enrolment, forms, lockout, second_factor, signals

GET_OR_POST = require_http_methods(["GET", "POST"])


def _staff(request) -> bool:
    user = request.user
    return user.is_authenticated and user.is_active and user.is_staff


def _next_url(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("admin:index")


def _with_next(name: str, next_url: str, **params) -> str:
    return reverse(name) + "?" + urlencode({"next": next_url, **params})


def _page(request, site, template, context, status=200):
    context = {**site.each_context(request), "is_nav_sidebar_enabled": False, **context}
    response = TemplateResponse(request, f"admin/signin/{template}", context, status=status)
    add_never_cache_headers(response)  # no-store: nothing here is kept by a browser or proxy
    return response


def _wait_message(throttled: "second_factor.Throttled") -> str:
    seconds = max(1, int((throttled.until - timezone.now()).total_seconds()) + 1)
    return f"Too many wrong codes in a row. Wait {seconds} second(s), then try again."


def ask_again(request, message: str):
    """Send the user to prove their second factor afresh, then back to this page."""
    messages.info(request, message)
    next_url = request.get_full_path()
    if second_factor.verified(request) and request.session.get(second_factor.CHECKED_BY) == "idp":
        return redirect(_with_next("admin:sso_start", next_url, fresh="1"))
    return redirect(_with_next("admin:two_step", next_url, purpose="confirm"))


@GET_OR_POST
@sensitive_post_parameters("code")
@sensitive_variables("form")
def two_step(request, site):
    if not _staff(request):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    user, next_url = request.user, _next_url(request)
    if not user_has_device(user):
        if second_factor.required_for(user):
            return redirect(_with_next("admin:two_step_setup", next_url))
        return redirect(next_url)
    form = forms.CodeForm(request.POST if request.method == "POST" else None)
    status, error = 200, None
    if form.is_bound and form.is_valid():
        already = second_factor.verified(request)
        try:
            checked = second_factor.check_code(request, form.cleaned_data["code"])
        except second_factor.Throttled as throttled:
            # Counted, not recorded: the next event of this account and address carries the count.
            error, status = _wait_message(throttled), 429
        else:
            if checked.method:
                purpose = "confirmation" if already else "sign-in"
                signals.second_factor_verified.send(
                    sender=two_step,
                    request=request,
                    user=user,
                    method=checked.method,
                    purpose=purpose,
                    refused=checked.refused,
                )
                if checked.method == second_factor.RECOVERY_NAME:
                    left = second_factor.recovery_codes_left(user)
                    messages.warning(
                        request, f"You used a recovery code; {left} left. Make new ones under Two-step verification."
                    )
                return redirect(next_url)
            error, status = "That code didn't work. Check your app's newest code and try again.", 400
            signals.second_factor_failed.send(
                sender=two_step, request=request, user=user, reason="wrong code", refused=checked.refused
            )
    elif form.is_bound:
        status = 400
    context = {
        "title": "Two-step verification",
        "form": form,
        "error": error,
        "next": next_url,
        "confirming": request.GET.get("purpose") == "confirm" or request.POST.get("purpose") == "confirm",
    }
    return _page(request, site, "two_step.html", context, status)


@GET_OR_POST
@sensitive_post_parameters("code")
@sensitive_variables("codes", "device", "key", "pending")
def setup(request, site):
    if not _staff(request):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    user, next_url = request.user, _next_url(request)
    has_authenticator = second_factor.has_authenticator(user)
    if user_has_device(user) and not second_factor.verified(request):
        # Replacing a factor needs the current one: a password alone must not swap it.
        return redirect(_with_next("admin:two_step", request.get_full_path()))
    replacing = request.GET.get("replace") or request.POST.get("replace")
    if has_authenticator and not replacing:
        context = {"title": "Two-step verification", "recovery_left": second_factor.recovery_codes_left(user)}
        return _page(request, site, "status.html", context)
    if enrolment.needs_link(user) and not enrolment.link_opened(request):
        return _ask_for_link(request, site, user, next_url)
    pending = enrolment.pending_key(request)
    form = forms.SetupForm(request.POST if request.method == "POST" else None)
    status, error = 200, None
    if form.is_bound and form.is_valid():
        try:
            codes = enrolment.confirm(request, form.cleaned_data["code"])
        except second_factor.Throttled as throttled:
            codes, error, status = None, _wait_message(throttled), 429
        else:
            if codes is not None:
                signals.second_factor_enrolled.send(sender=setup, request=request, user=user, recovery_codes=len(codes))
                context = {"title": "Two-step verification is on", "codes": codes, "next": next_url}
                return _page(request, site, "setup_done.html", context)
            error, status = (
                "That code didn't match. Check that your phone's clock is right and type the newest code.",
                400,
            )
    elif form.is_bound:
        status = 400
    device = enrolment.shown_key(pending)
    key = base64.b32encode(device.bin_key).decode()
    context = {
        "title": "Set up two-step verification",
        "form": form,
        "error": error,
        "next": next_url,
        "replace": bool(replacing),
        "required": second_factor.required_for(user),
        "key": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
        "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=4, border=2),
    }
    return _page(request, site, "setup.html", context, status)


def _ask_for_link(request, site, user, next_url):
    """A first set-up: the password got this far, the account's mailbox must do the rest."""
    status, error = 200, None
    if request.method == "POST" and "send_link" in request.POST:
        try:
            address = enrolment.email_link(user, timezone.now())
        except enrolment.LinkRefused as refused:
            status = 429 if refused.why == "too many" else 400
            error = {
                "too many": "Several links were emailed today already. Use the newest, or try again tomorrow.",
                "no address": "Your account has no email address. Ask an administrator to add yours.",
            }[refused.why]
        else:
            signals.enrolment_link_sent.send(sender=setup, request=request, user=user, address=address)
            messages.info(request, f"We emailed a link to {address}. Open it in this browser; it works once.")
            return redirect(_with_next("admin:two_step_setup", next_url))
    elif request.method == "POST":
        status = 400
    context = {
        "title": "Set up two-step verification",
        "error": error,
        "next": next_url,
        "address": enrolment.masked_address(user),
        "required": second_factor.required_for(user),
    }
    return _page(request, site, "enrol_link.html", context, status)


@require_http_methods(["GET"])
@sensitive_variables("token")
def enrol(request, site, token):
    """The emailed link: it works for the account's owner, signed in, in this browser, once."""
    if not _staff(request):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    try:
        enrolment.open_link(request, token, timezone.now())
    except enrolment.LinkRefused as refused:
        error = {
            "used": "This link was already used. Each one works once.",
            "expired": "This link is more than a day old, so it has expired.",
        }.get(refused.why, "This link is not one we emailed to the account you are signed in as.")
        context = {"title": "Set up two-step verification", "error": error, "refused": True}
        return _page(request, site, "enrol_link.html", context, status=400)
    signals.enrolment_link_opened.send(sender=enrol, request=request, user=request.user)
    return redirect("admin:two_step_setup")


@GET_OR_POST
@sensitive_variables("codes")
def recovery_codes(request, site):
    """Inside the admin (the session has passed its second factor): a new set, shown once."""
    user = request.user
    if not second_factor.has_authenticator(user):
        return redirect("admin:two_step_setup")
    if request.method == "POST":
        codes = second_factor.replace_recovery_codes(user)
        signals.recovery_codes_replaced.send(sender=recovery_codes, request=request, user=user, count=len(codes))
        context = {"title": "New recovery codes", "codes": codes, "next": reverse("admin:index")}
        return _page(request, site, "setup_done.html", context)
    return redirect("admin:two_step_setup")


def login_refused_for_backoff(response, until) -> None:
    """The back-off answers 429 with Retry-After, like django-axes' lock."""
    response.status_code = 429
    response["Retry-After"] = str(max(1, int((until - timezone.now()).total_seconds())))


def remember_sign_in(request, response) -> None:
    lockout.remember_browser(request, response, request.user.get_username())


def sso_context(request) -> dict:
    return {
        "sso_enabled": settings.PORTAL_SSO_ENABLED,
        "sso_label": settings.PORTAL_SSO_LABEL,
        "sso_failed": request.GET.get("sso") == "failed",
    }
