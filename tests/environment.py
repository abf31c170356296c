"""Loaded as a pytest plugin (-p tests.environment) before Django reads its settings.

The data folder is a fresh temporary directory per test run, so tests can grep everything
Keydrop wrote (database file, mail files, logs) for secrets.
"""

import os
import tempfile

os.environ["PORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="keydrop-test-")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Test keys, not derived from each other: the portal refuses an encryption key equal to SECRET_KEY.
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "s" * 40)
os.environ.setdefault("PORTAL_ENCRYPTION_KEY", "test-encryption-key-" + "e" * 40)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Canvas is never called from tests: a name that cannot resolve, for child processes too. In this
# process, tests/conftest.py lets names resolve only to loopback fakes.
os.environ.setdefault("PORTAL_DAP_API_URL", "https://dap-gateway.invalid")

