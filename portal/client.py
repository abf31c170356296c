"""Who is on the other end of a request."""


def client_ip(request) -> str | None:
    """REMOTE_ADDR, which a correctly configured proxy sets to the client's address."""
    return request.META.get("REMOTE_ADDR") or None
