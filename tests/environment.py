"""Loaded as a pytest plugin (-p tests.environment) before Django reads its settings.

The data folder is a fresh temporary directory per test run, so tests can grep everything
Keydrop wrote (database file, mail files, logs) for secrets. The rest is a production
configuration (DEBUG off, every placeholder replaced), so the tests run what production runs.
"""

import os
import tempfile
from pathlib import Path

os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="keydrop-test-")
PRODUCTION_LIKE = {
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    # Test keys, not derived from each other: the portal refuses an encryption key equal to SECRET_KEY.
    "SECRET_KEY": "test-secret-key-" + "s" * 40,
    "PORTAL_ENCRYPTION_KEY": "test-encryption-key-" + "e" * 40,
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1,keydrop.internal",
    # .internal is for private networks (ICANN, 2024): a real name, not an example.
    "PORTAL_BASE_URL": "https://keydrop.internal",
    "PORTAL_SUPPORT_EMAIL": "support@keydrop.internal",
    # Set, as production requires; the tests read "Keydrop" where a partner's name stands.
    "PORTAL_PARTNER_NAME": "Keydrop",
    "DEFAULT_FROM_EMAIL": "Keydrop <keydrop@keydrop.internal>",
    "ADMINS": "Keydrop operators <ops@keydrop.internal>",
    "PORTAL_DEVELOPER_KEY_FILE": str(Path(__file__).with_name("developer-key.toml")),
    # Mail kept in memory (pytest-django does the same in this process); child processes that send
    # mail are given a loopback SMTP server (tests/processes.py).
    "EMAIL_URL": "memory://",
}
for name, value in PRODUCTION_LIKE.items():
    os.environ.setdefault(name, value)
# Canvas is never called from tests: a name that cannot resolve, for child processes too. In this
# process, tests/conftest.py lets names resolve only to loopback fakes.
os.environ.setdefault("PORTAL_DAP_API_URL", "https://dap-gateway.invalid")
