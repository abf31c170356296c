"""How django-axes names the account behind a failed staff sign-in."""

from django.conf import settings
from django.contrib.auth import get_user_model

USERNAME_LENGTH = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length or 150


def axes_username(request, credentials: dict | None) -> str | None:
    """The username as typed, cut to the longest a real one can be and without NUL characters.

    django-axes stores it with each failure; an over-long or NUL-bearing name would otherwise make
    PostgreSQL refuse the row and the sign-in page fail with a 500 instead of counting the attempt.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get(field) if source else None
    if username is None:
        return None
    return str(username).replace("\x00", "")[:USERNAME_LENGTH]
