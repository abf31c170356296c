from portal import fragments


def branding(request):
    """The partner's name, brand and addresses, the verification numbers and the static files'
    addresses: the same for every page until a setting changes (portal/fragments.py)."""
    return fragments.page_layout()
