"""WSGI entry point. Refuses to serve when a Keydrop system check reports an error."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

from portal.checks import refuse_to_start_on_errors  # noqa: E402  (needs the app registry)

refuse_to_start_on_errors()
