"""The receipt's answer to "this key is already on file for another institution" (keys/shared_keys.py)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from intake.models import Verification
from keys import shared_keys


@never_cache
@require_POST
def confirm(request, public_id: str):
    """The customer says their institution shares the key on purpose; staff still decide."""
    verification = get_object_or_404(
        Verification.objects.select_related("credential__institution", "contact"),
        public_id=public_id,
        verified_at__isnull=False,
    )
    credential = verification.credential
    if credential.shared_key_found_at is None:
        messages.info(request, "This key is not on file for another institution: nothing to confirm.")
    elif shared_keys.confirm_by_customer(credential, verification.contact.masked_email, timezone.now()):
        messages.success(request, "Thank you. We told our staff that your institution shares this key on purpose.")
    return redirect("intake:receipt", verification.public_id)
