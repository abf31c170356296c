"""Start Django for a benchmark: its own data folder, production-like settings, test keys."""

import os
import sys
import tempfile
from pathlib import Path


def start_django(prefix: str) -> bool:
    """Returns True if the data folder is the benchmark's own (so it may delete it afterwards)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    own_data_dir = "PORTAL_DATA_DIR" not in os.environ
    os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-" + "b" * 40)
    os.environ.setdefault("PORTAL_ENCRYPTION_KEY", "bench-encryption-key-" + "c" * 40)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    return own_data_dir
