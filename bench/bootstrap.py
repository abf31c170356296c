"""Start Django for a benchmark: its own data folder, production settings (DEBUG off, no
placeholders, so the system checks pass), test keys, emails kept in memory."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_LIKE = {
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    "ALLOWED_HOSTS": "testserver,keydrop.internal,127.0.0.1",
    "SECRET_KEY": "bench-secret-key-" + "b" * 40,
    "PORTAL_ENCRYPTION_KEY": "bench-encryption-key-" + "c" * 40,
    "PORTAL_BASE_URL": "https://keydrop.internal",
    "PORTAL_SUPPORT_EMAIL": "support@keydrop.internal",
    "PORTAL_PARTNER_NAME": "Keydrop",
    "DEFAULT_FROM_EMAIL": "Keydrop <keydrop@keydrop.internal>",
    "ADMINS": "ops@keydrop.internal",
    "PORTAL_DEVELOPER_KEY_FILE": str(ROOT / "tests" / "developer-key.toml"),
    "EMAIL_URL": "memory://",
    "PORTAL_DAP_API_URL": "https://dap-gateway.invalid",  # a benchmark never calls Canvas
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}


def start_django(prefix: str) -> bool:
    """Returns True if the data folder is the benchmark's own (so it may delete it afterwards)."""
    sys.path.insert(0, str(ROOT))
    own_data_dir = "PORTAL_DATA_DIR" not in os.environ
    os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix=prefix))
    for name, value in PRODUCTION_LIKE.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    return own_data_dir
