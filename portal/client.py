"""Where a request came from, as every part of Keydrop records it."""


def client_ip(request) -> str | None:
    """REMOTE_ADDR, which a correctly configured proxy sets to the client's address.

    The same header django-axes reads (AXES_IPWARE_META_PRECEDENCE_ORDER), so flood limits, the
    audit trail and sign-in lockouts all name one address.
    """
    return request.META.get("REMOTE_ADDR") or None
