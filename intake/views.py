"""Customer-facing pages: instructions and form, code entry, receipt. Views only translate HTTP."""

import re

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from intake import instructions, services
from intake.forms import CodeForm, SubmissionForm
from intake.models import Verification
from intake.rules import GENERIC_CODE_ERROR
from keys import customer_view, kinds, limits
from keys.instructure import grants
from keys.models import AuthorizationRequest, CampaignInvitation, Credential, Institution
from portal.client import client_ip
from portal.middleware import allow_forms_to

INVITATION_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,32}")


def _refusal(refused: services.SubmissionRefused, institution: Institution) -> str:
    """The refusal, and for a limit, when to try again (in the institution's time zone)."""
    if refused.retry_at is None:
        return refused.message
    return f"{refused.message} {_try_again(refused.retry_at, institution)}"


def _try_again(retry_at, institution: Institution) -> str:
    at = timezone.localtime(retry_at, institution.tz)
    return f"You can try again after {at:%H:%M} ({at.tzname()}), in about {_minutes_until(retry_at)} minute(s)."


def _minutes_until(moment) -> int:
    return max(1, int(-(-(moment - timezone.now()).total_seconds() // 60)))


def _retry_after(response, retry_at):
    if retry_at is not None:
        response["Retry-After"] = str(max(1, int((retry_at - timezone.now()).total_seconds())))
    return response


def _verification(public_id: str) -> Verification:
    return get_object_or_404(
        Verification.objects.select_related("credential__institution", "contact"), public_id=public_id
    )


def home(request):
    return render(request, "intake/home.html")


@never_cache
@sensitive_post_parameters("client_secret")
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
def start(request, token: str, kind: str = kinds.DEFAULT.slug):
    # The page lists the institution's keys; a first hand-over's GET learns there are none for free.
    rows = Institution.objects.with_held_keys_flag() if request.method == "GET" else Institution.objects
    institution = get_object_or_404(rows, intake_token=token)
    if kind not in kinds.KINDS:
        raise Http404("No such kind of credential")
    spec = kinds.get(kind)
    now = timezone.now()
    via = request.GET.get("via", "")
    if request.method == "GET" and via and INVITATION_TOKEN.fullmatch(via):
        # Loaded from a campaign email's link: that is what "opened" means, and all it records.
        CampaignInvitation.record_open(via, institution, now)
    key_type = request.POST.get("key_type") or request.GET.get("key_type") or ""
    form = SubmissionForm(
        request.POST if request.method == "POST" else None,
        institution=institution,
        kind=spec,
        now=now,
        key_type=key_type,
    )
    status, refused = 200, None
    if request.method == "POST" and form.is_valid():
        try:
            verification = services.submit(
                institution=institution, kind=spec, data=form.cleaned_data, ip=client_ip(request), now=now
            )
        except services.SubmissionRefused as refusal:
            refused = refusal
            form.add_error(None, _refusal(refused, institution))
            status = refused.status
            form.hold_secret()
        else:
            form.release_secret()
            for warning in form.warnings:
                messages.warning(request, warning)
            return redirect("intake:verify", verification.public_id)
    elif request.method == "POST":
        status = 400
        form.hold_secret()  # an error not about the secret: it is not pasted again
    context = {
        "institution": institution,
        "kind": spec,
        "kinds": kinds.KINDS.values(),
        "form": form,
        **instructions.context(spec, institution.slug),  # rendered once per kind (portal/fragments.py)
        "partner_chosen": kinds.is_partner_key(key_type) and bool(spec.key_types),
        "no_contacts": not form.contacts,
        "current_keys": customer_view.current_keys(institution, now, settings.PORTAL_PARTNER_NAME),
    }
    response = render(request, "intake/start.html", context, status=status)
    allow_forms_to(response, customer_view.authorize_targets(context["current_keys"]))
    return _retry_after(response, refused.retry_at) if refused else response


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def verify(request, public_id: str):
    verification = _verification(public_id)
    now = timezone.now()
    verification.lock_if_stale(now)
    if verification.verified_at:
        return redirect("intake:receipt", verification.public_id)
    form = CodeForm(request.POST if request.method == "POST" else None)
    code_error, status = None, 200
    if request.method == "POST":
        status = 400
        # Locked, wrong and expired all get one answer, so a guess learns nothing new.
        if verification.is_waiting and form.is_valid():
            outcome = verification.check_code(form.cleaned_data["code"], now)
            if outcome.verified:
                # Only now, with the code verified, is Canvas asked whether the key works.
                services.hand_over(verification)
                services.send_receipt(verification, now)  # with what Canvas answered
            if outcome.verified or verification.verified_at:
                return redirect("intake:receipt", verification.public_id)
            code_error = GENERIC_CODE_ERROR
        elif not verification.is_waiting:
            code_error = GENERIC_CODE_ERROR
    context = {
        "verification": verification,
        "form": form,
        "code_error": code_error,
        "code_error_list": [code_error] if code_error else [],
    }
    return render(request, "intake/verify.html", context, status=status)


@never_cache
@require_POST
def resend(request, public_id: str):
    verification = _verification(public_id)
    now = timezone.now()
    if verification.lock_if_stale(now) or not verification.is_waiting:
        return redirect("intake:verify", verification.public_id)
    slot = None
    try:
        slot = services.take_code_email_slot(verification.contact_id, now)
        sent = services.send_code(verification, now)
    except services.SubmissionRefused as refused:
        messages.error(request, _refusal(refused, verification.credential.institution))
    except services.CodeNotSent:
        limits.give_back(slot)
        messages.error(request, "We couldn't send the email just now. Please try again in a minute.")
    else:
        if sent:
            messages.success(
                request, f"We sent a new code to {verification.contact.masked_email}. Earlier codes no longer work."
            )
        else:
            limits.give_back(slot)
            messages.error(
                request,
                "You have used all the new codes for this submission. Enter the last code you "
                "received, or start a new submission.",
            )
    return redirect("intake:verify", verification.public_id)


@never_cache
def receipt(request, public_id: str):
    verification = _verification(public_id)
    if not verification.verified_at:
        return redirect("intake:verify", verification.public_id)
    credential = verification.credential
    context = {
        "verification": verification,
        "credential": credential,
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "renew_by": credential.expires_on(),
        "partner_key": credential.is_partner_key,
        "summary": customer_view.summarise(credential, timezone.now(), settings.PORTAL_PARTNER_NAME),
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "check": services.handover_state(credential),
        "submit_again_url": credential.institution.intake_path(credential.kind),
    }
    response = render(request, "intake/receipt.html", context)
    return allow_forms_to(response, [credential.canvas_url] if context["summary"].next_step.url else [])


# Check again: a key that needs a fix in Canvas, once the admin made it ---------------------------


@never_cache
@require_POST
def check_again(request, token: str, credential_id: int):
    """Re-run the check of a key kept sealed for a fix in Canvas; back to the page that asked."""
    institution = get_object_or_404(Institution, intake_token=token)
    credential = get_object_or_404(
        Credential.objects.visible_to_staff().select_related("institution"), pk=credential_id, institution=institution
    )
    if credential.status != Credential.Status.NEEDS_FIX:
        messages.info(request, "This key does not wait for a fix in Canvas: nothing was checked.")
    else:
        try:
            messages.info(request, services.check_again(credential, timezone.now()))
        except limits.LimitReached as full:
            messages.error(
                request, f"This key was checked many times this hour. {_try_again(full.retry_at, institution)}"
            )
    receipt = Verification.objects.filter(
        public_id=request.POST.get("receipt", "")[:64], credential=credential, verified_at__isnull=False
    ).first()
    if receipt:
        return redirect("intake:receipt", receipt.public_id)
    return redirect("intake:start_kind", institution.intake_token, credential.kind)


# The admin's OAuth grant of a developer key (keys/instructure/grants.py) --------------------------------------

BROWSER_COOKIE = "keydrop_oauth_browser"  # binds an authorization to the browser that started it
AUTHORIZATIONS_BUSY = "Too many authorizations were started for this key in the last hour."


def _granted_credential(token: str, credential_id: int) -> Credential:
    institution = get_object_or_404(Institution, intake_token=token)
    return get_object_or_404(
        Credential.objects.visible_to_staff().select_related("institution").defer("secret"),
        pk=credential_id,
        institution=institution,
        kind__in=kinds.GRANTED_KINDS,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request, token: str, credential_id: int):
    """The Authorize button's page: POST sends the browser to Canvas; GET shows where things stand."""
    credential = _granted_credential(token, credential_id)
    now = timezone.now()
    if request.method == "POST" and credential.awaits_authorization:
        browser_key = request.COOKIES.get(BROWSER_COOKIE) or grants.new_browser_key()
        try:
            canvas_url = grants.start(credential, browser_key, now)
        except limits.LimitReached as full:
            messages.error(request, f"{AUTHORIZATIONS_BUSY} {_try_again(full.retry_at, credential.institution)}")
            return _authorize_page(request, credential, now, status=429, retry_at=full.retry_at)
        response = redirect(canvas_url)
        response.set_cookie(
            BROWSER_COOKIE,
            browser_key,
            max_age=int(AuthorizationRequest.LIFETIME.total_seconds()),
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",  # sent on Canvas's redirect back, a top-level navigation
        )
        return response
    if request.method == "POST":
        messages.info(request, "This key does not need an authorization now: nothing was changed.")
        return _authorize_page(request, credential, now, status=405)
    return _authorize_page(request, credential, now)


def _authorize_page(request, credential: Credential, now, *, status: int = 200, retry_at=None):
    context = {
        "credential": credential,
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "grant": credential.current_grant(),
        "summary": customer_view.summarise(credential, now, settings.PORTAL_PARTNER_NAME),
    }
    response = render(request, "intake/authorize.html", context, status=status)
    allow_forms_to(response, [credential.canvas_url] if credential.awaits_authorization else [])
    return _retry_after(response, retry_at)


@never_cache
@sensitive_variables("code")
@require_http_methods(["GET"])
def oauth_callback(request):
    """Where Canvas sends the admin back, with a code or an error, and our state.

    Without a state we can redeem, the address proves nothing: anyone can send a customer a link to
    the callback. It then cancels nothing and the page shows none of its text: at most Keydrop's own
    words for an error code Canvas is known to send without state, never its description.
    """
    now = timezone.now()
    state, error, code = (request.GET.get(name, "")[:2000] for name in ("state", "error", "code"))
    description = request.GET.get("error_description", "")[:1000]
    browser_key = request.COOKIES.get(BROWSER_COOKIE, "")
    try:
        if not state:
            raise grants.StateRefused("unstated" if error else "unknown")
        authorization = grants.redeem(state, browser_key, now)
    except grants.StateRefused as refused:
        known = refused.why == "unstated" and error in grants.CALLBACK_ERRORS
        context = {"why": refused.why, "explanation": grants.explain_callback_error(error, "") if known else ""}
        return render(request, "intake/authorization_refused.html", context, status=400)
    if error or not code:
        completed = grants.finish_with_error(authorization, error or "no_code", description)
    else:
        completed = grants.complete(authorization, code, now)
    (messages.success if completed.authorized else messages.error)(request, completed.message)
    # Off the callback's address at once, so the code stays out of the history and the Referer.
    return redirect("intake:authorize", authorization.credential.institution.intake_token, authorization.credential_id)
