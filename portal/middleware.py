"""Middleware of the whole portal: shared response headers, request ids and lines, the body limit."""

import logging
import re
import time
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.shortcuts import render

from portal import client, errors, logs
from portal.branding import brand

request_log = logging.getLogger("keydrop.request")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "script-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
# The Django admin sets a few inline styles of its own.
ADMIN_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def allow_forms_to(response, urls):
    """Let this page's forms end at these sites. The Authorize button POSTs to Keydrop, which answers
    with a redirect to the institution's Canvas, and browsers apply form-action to that redirect."""
    origins = {f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, filter(None, urls))}
    response.form_action_origins = sorted(origin for origin in origins if ORIGIN.fullmatch(origin))
    return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/admin/"

    def __call__(self, request):
        response = self.get_response(request)
        policy = ADMIN_POLICY if request.path.startswith(self.admin_prefix) else POLICY
        logo_origin = brand().logo_origin
        if logo_origin:  # the partner's logo may live on its own site
            policy = policy.replace("img-src 'self' data:", f"img-src 'self' data: {logo_origin}")
        extra_form_origins = getattr(response, "form_action_origins", ())
        if extra_form_origins:
            policy = policy.replace("form-action 'self'", " ".join(["form-action 'self'", *extra_form_origins]))
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class RequestLogMiddleware:
    """A request id on every log line of a request, and one line per request.

    The id is the proxy's X-Request-ID when a trusted proxy sent one (nginx's $request_id, so its
    access log and Keydrop's lines match), otherwise a new one; it is returned as X-Request-ID.
    The line has method, path, status, duration and client address; tokens in the path are
    redacted like every other log line.
    """

    QUIET_PREFIXES = ("/static/", "/health/")  # load balancers and browsers ask often: DEBUG level

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ident = self._incoming_id(request) or uuid.uuid4().hex
        token = logs.request_id.set(ident)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response.headers.setdefault("X-Request-ID", ident)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            path = logs.redact(request.path)
            level = logging.DEBUG if request.path.startswith(self.QUIET_PREFIXES) else logging.INFO
            if request_log.isEnabledFor(level):
                request_log.log(
                    level,
                    "%s %s %s %.1fms",
                    request.method,
                    path,
                    response.status_code,
                    duration_ms,
                    extra={
                        "method": request.method,
                        "path": path,
                        "status": response.status_code,
                        "duration_ms": duration_ms,
                        "client_ip": client.client_ip(request),
                    },
                )
            return response
        finally:
            logs.request_id.reset(token)

    @staticmethod
    def _incoming_id(request) -> str | None:
        ident = request.META.get("HTTP_X_REQUEST_ID", "")
        if not REQUEST_ID.fullmatch(ident):
            return None
        peer = client.parse_address(request.META.get("REMOTE_ADDR") or "")
        return ident if client.is_trusted(peer, settings.PORTAL_TRUSTED_PROXIES) else None


class RequestBodyLimitMiddleware:
    """Refuse a body larger than PORTAL_MAX_REQUEST_BYTES by its Content-Length, before anything reads it.

    Without this, a large anonymous multipart body is parsed (and its file parts spooled to disk)
    when CSRF checking first reads request.POST, only to be rejected. The proxy enforces the same
    limit (deploy/nginx: client_max_body_size); this covers a server reached without it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body it cannot measure
        if length > settings.PORTAL_MAX_REQUEST_BYTES:
            if request.path.startswith(errors.API_PREFIX):  # the pipeline API answers in JSON
                return errors.api_error(413, "request_too_large", "The API takes no request body this large.")
            return render(request, "413.html", {"limit_kb": settings.PORTAL_MAX_REQUEST_BYTES // 1024}, status=413)
        return self.get_response(request)
