"""Error reports (the DEBUG page, error emails) that never show a secret, and the error pages."""

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from portal import fragments


class SecretScrubbingFilter(SafeExceptionReporterFilter):
    """Django's filter, with three changes.

    It is active even with DEBUG on: a local install's error page must not show a pasted secret
    either. Every POST value is hidden unless the view declared which of its fields are sensitive
    (@sensitive_post_parameters): a request that failed before its view (a bad Host, a middleware)
    never got that far, and its client_secret is as secret as any. And any local variable in any
    frame whose value contains a hidden POST value (the secret travels through forms, services and
    the sealing code) is hidden, not only the variables a function declared with @sensitive_variables.
    """

    def is_active(self, request):
        return True

    def get_post_parameters(self, request):
        if request is None or self._declared(request):
            return super().get_post_parameters(request)
        return dict.fromkeys(request.POST, self.cleansed_substitute)

    @staticmethod
    def _declared(request) -> bool:
        return getattr(request, "sensitive_post_parameters", None) is not None

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        secrets = self._posted_secrets(request)
        if not secrets:
            return variables
        return [
            (name, self.cleansed_substitute if any(secret in self._text(value) for secret in secrets) else value)
            for name, value in variables
        ]

    @classmethod
    def _posted_secrets(cls, request) -> list[str]:
        if request is None or request.method != "POST":
            return []
        names = request.sensitive_post_parameters if cls._declared(request) else "__ALL__"
        if not names:
            return []
        keys = request.POST.keys() if names == "__ALL__" else names
        return [value for key in keys for value in request.POST.getlist(key) if len(value) >= 4]

    @staticmethod
    def _text(value) -> str:
        try:
            return repr(value)
        except Exception:  # a broken __repr__ must not break the error report
            return ""


class KeydropExceptionReporter(ExceptionReporter):
    """With DEBUG on, Django answers a bad request (a Host not allowed, too many fields) with its
    technical page, which lists the request, what was posted included. Keydrop answers with its own
    400 page in every mode; the log line still names the problem. Error emails are unchanged."""

    def _bad_request(self) -> bool:
        return not self.is_email and self.exc_type is not None and issubclass(self.exc_type, BAD_REQUESTS)

    def get_traceback_html(self):
        return _plain_page("400.html") if self._bad_request() else super().get_traceback_html()

    def get_traceback_text(self):
        return "Bad request.\n" if self._bad_request() else super().get_traceback_text()


BAD_REQUESTS = (SuspiciousOperation, BadRequest)


def _plain_page(template: str) -> str:
    # No request and no context processors: the request is the thing that is wrong. The layout's
    # values come from settings alone.
    return loader.render_to_string(template, {**fragments.page_layout()})  # a copy: a template may set names


# Error pages in the portal's look, with the support address. Django's defaults are bare text,
# and in DEBUG a technical page; production never shows either.


API_PREFIX = "/api/"  # the pipeline API answers in JSON, even where no view of it was reached


def api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def bad_request(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return api_error(400, "invalid_request", "The request is not valid.")
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)


def not_found(request, exception=None):
    """A replaced intake link is the common case: say so, and what to do."""
    path = request.path
    if path.startswith(API_PREFIX):
        return api_error(404, "not_found", "No such address in the API (see /api/v1/openapi.json).")
    context = {"intake_link": path.startswith("/i/"), "submission_link": path.startswith("/s/")}
    return render(request, "404.html", context, status=404)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return api_error(500, "internal_error", "Keydrop failed to answer; the error was logged.")
    # No context processors: whatever failed (the database, a session) must not fail this page too.
    # The brand comes from settings alone, so the page still carries the partner's name and logo.
    return HttpResponseServerError(_plain_page("500.html"))
