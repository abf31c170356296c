"""One key, one institution: a key handed over by a second institution is flagged, never silently used.

A Canvas Data 2 Client ID or a developer key id belongs to one Canvas account. The same key
handed over for two institutions (or by one institution for two kinds) means a pipeline would load
one institution's data as another's, unless the institutions truly share it (a consortium).

| rule | where |
| --- | --- |
| one key is one ``key_identity`` (a Client ID with or without its region, any case) | ``Kind.key_identity`` |
| a holder may still carry data: awaiting its secret, active, superseded, or waiting for a fix | ``HOLDING`` |
| found once the code is verified, in one indexed query; a key Canvas rejected is not | ``flag_at_handover`` |
| staff are emailed once per key: a conditional UPDATE decides who sends | ``flag_at_handover`` |
| the receipt tells the customer (never the other's name), who may confirm | ``confirm_by_customer`` |
| staff see every holder on the key's page, in a filter and on the dashboard | ``flagged``, ``other_holders`` |
| staff may mark the holders a consortium (audited, with a reason): no longer flagged | ``mark_consortium`` |
| a holder that arrives after the marking is flagged again: nobody vouched for it | ``flagged`` |
"""

import datetime
import logging

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse

from keys import audit
from keys.models import Credential
from portal import emails

log = logging.getLogger(__name__)
Status = Credential.Status
HOLDING = (*Credential.LIVE_STATUSES, Status.NEEDS_FIX)


def holders_of(key_identity: str):
    return Credential.objects.filter(key_identity=key_identity, status__in=HOLDING).exclude(key_identity="")


def other_holders(credential: Credential) -> list[Credential]:
    """Keys of other institutions (or of this one for another kind) that are the same key as this one."""
    if not credential.key_identity:
        return []
    return list(
        holders_of(credential.key_identity)
        .exclude(institution_id=credential.institution_id, kind=credential.kind)
        .select_related("institution")
        .defer("secret")
        .order_by("institution__name", "pk")
    )


def flagged(queryset=None):
    """Held keys that another institution (or this one for another kind) also holds, where the
    consortium has not been confirmed by staff for both: the *shared key* filter and the dashboard."""
    others = (
        Credential.objects.filter(key_identity=models.OuterRef("key_identity"), status__in=HOLDING)
        .exclude(pk=models.OuterRef("pk"))
        .exclude(institution_id=models.OuterRef("institution_id"), kind=models.OuterRef("kind"))
    )
    unmarked_others = others.filter(consortium_marked_at__isnull=True)
    queryset = Credential.objects.all() if queryset is None else queryset
    return (
        queryset.filter(status__in=HOLDING)
        .exclude(key_identity="")
        .filter(
            models.Q(consortium_marked_at__isnull=True) & models.Exists(others)
            | models.Q(consortium_marked_at__isnull=False) & models.Exists(unmarked_others)
        )
    )


def is_flagged(credential: Credential) -> bool:
    return flagged(Credential.objects.filter(pk=credential.pk)).exists()


def flag_at_handover(credential: Credential, now: datetime.datetime) -> list[Credential]:
    """Right after verification: the other holders of this key, if any; the first call that finds
    them records it and emails staff (a second call, or a racing one, sends nothing)."""
    others = other_holders(credential)
    if not others:
        return []
    first = Credential.objects.filter(pk=credential.pk, shared_key_found_at__isnull=True).update(
        shared_key_found_at=now
    )
    credential.shared_key_found_at = credential.shared_key_found_at or now
    if first:
        tell_staff(credential, others)
    return others


def tell_staff(credential: Credential, others: list[Credential]) -> None:
    """Best effort: the key's page, the filter and the dashboard show it either way."""
    if not settings.PORTAL_STAFF_EMAILS:
        return
    base = settings.PORTAL_BASE_URL
    context = {
        "credential": credential,
        "institution": credential.institution,
        "kind": credential.kind_spec,
        "masked_client_id": credential.masked_client_id,
        "admin_url": base + reverse("admin:keys_credential_change", args=[credential.pk]),
        "others": [(other, base + reverse("admin:keys_credential_change", args=[other.pk])) for other in others],
    }
    try:
        emails.send("staff-shared-key", list(settings.PORTAL_STAFF_EMAILS), context)
    except Exception as exc:  # SMTP and socket errors alike
        log.warning("staff notice of shared key %s failed: %s", credential.pk, type(exc).__name__)


def confirm_by_customer(credential: Credential, actor: str, now: datetime.datetime) -> bool:
    """The customer says their institution shares this key with others. Staff still decide; this
    is recorded beside the flag and in the audit trail. True the first time."""
    with transaction.atomic():
        confirmed = Credential.objects.filter(
            pk=credential.pk, shared_key_found_at__isnull=False, shared_key_confirmed_at__isnull=True
        ).update(shared_key_confirmed_at=now)
        if confirmed:
            credential.shared_key_confirmed_at = now
            audit.record(audit.Action.SHARED_KEY_CONFIRMED, actor=actor, credential=credential, at=now)
    return bool(confirmed)


def mark_consortium(credential: Credential, *, actor: str, ip: str | None, reason: str, now) -> int:
    """Staff confirm that every institution holding this key now truly shares it: each holder is
    marked, with one audit event per key. Returns how many keys were marked."""
    holders = [credential, *other_holders(credential)]
    names = sorted({holder.institution.name for holder in holders})
    with transaction.atomic():
        marked = Credential.objects.filter(
            pk__in=[holder.pk for holder in holders], consortium_marked_at__isnull=True
        ).update(consortium_marked_at=now, consortium_marked_by=actor[:200])
        for holder in holders:
            audit.record(
                audit.Action.CONSORTIUM_MARKED,
                actor=actor,
                ip=ip,
                credential=holder,
                reason=reason,
                at=now,
                detail=f"shared by {', '.join(names)}"[:300],
            )
    return marked
