"""The baseline for bench_intake.py: a bare Django form that Fernet-encrypts its one field and
sends one email, served beside Keydrop's own URLs by the same gunicorn and settings."""

from cryptography.fernet import Fernet
from django import forms
from django.core.mail import send_mail
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template import engines
from django.urls import include, path

FERNET = Fernet(Fernet.generate_key())
PAGE = engines["django"].from_string(
    "<!doctype html><html><head><title>Send a secret</title></head><body><h1>Send a secret</h1>"
    '<form method="post">{% csrf_token %}{{ form }}<button>Send</button></form></body></html>'
)
DONE = engines["django"].from_string(
    "<!doctype html><html><body><h1>Received</h1><p>Check your email.</p></body></html>"
)


class BareForm(forms.Form):
    secret = forms.CharField(strip=False, max_length=4096, widget=forms.PasswordInput)


def bare_form(request):
    form = BareForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        sealed = FERNET.encrypt(form.cleaned_data["secret"].encode())
        send_mail("A secret was received", f"{len(sealed)} bytes, sealed.", None, ["admin@example.edu"])
        return redirect("bare-done")
    return HttpResponse(PAGE.render({"form": form}, request))


def bare_done(request):
    return HttpResponse(DONE.render({}, request))


urlpatterns = [
    path("bare/", bare_form, name="bare-form"),
    path("bare/done/", bare_done, name="bare-done"),
    path("", include("portal.urls")),
]
