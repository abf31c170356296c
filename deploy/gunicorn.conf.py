# gunicorn settings for Keydrop's web nodes (deploy/systemd/keydrop-web.service passes this file).
# Options given on the command line win over these.
import os

# nginx on the same machine talks to this address; bind a private address instead when the proxy
# runs elsewhere (and list it in PORTAL_TRUSTED_PROXIES).
bind = ["127.0.0.1:8000"]
# Two per core is plenty: a hand-over costs a few milliseconds of CPU.
workers = int(os.getenv("WEB_CONCURRENCY", "2"))
# Sync workers; a request that takes longer than this is stuck, not slow.
timeout = 30
graceful_timeout = 30
# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200
# The scheme (X-Forwarded-Proto) is trusted from the same proxies Keydrop trusts for addresses.
forwarded_allow_ips = os.getenv("PORTAL_TRUSTED_PROXIES") or "127.0.0.1,::1"
# No access log here: Keydrop writes one line per request itself, with a request id and the
# intake, verification and calendar tokens redacted (gunicorn's own line would carry them).
accesslog = None
errorlog = "-"
# The WSGI module runs Keydrop's system checks and refuses to start on an error; load it once in
# the master so that refusal stops gunicorn instead of looping on workers that cannot boot.
preload_app = True
