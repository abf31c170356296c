"""Keydrop settings.

Everything comes from the environment. With nothing set, Keydrop runs on embedded defaults:
SQLite, django-q2's ORM broker, outgoing mail written as files, and local keys generated once,
all under one data folder (PORTAL_DATA_DIR, default ./var). deploy/keydrop.env lists every
variable production sets (see docs/operations.md, Configuration).

Production mode is DEBUG off. DEBUG defaults to on only while the keys are the local ones: once
SECRET_KEY or PORTAL_ENCRYPTION_KEY comes from the environment, an unset DEBUG means off, and
check keydrop.E021 refuses to start until DEBUG is set explicitly. Real keys never run as DEBUG.
"""

import os
import secrets
from datetime import timedelta
from email.utils import getaddresses
from pathlib import Path

import dj_database_url
import dj_email_url

from intake import rules
from portal import developer_key
from portal.client import parse_networks
from portal.env import envbool, envchoice, envint, envlist, envseconds, local_keys, retired

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.getenv("PORTAL_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

_KEYS_FROM_ENVIRONMENT = bool(os.getenv("SECRET_KEY") or os.getenv("PORTAL_ENCRYPTION_KEY"))
DEBUG = envbool("DEBUG", not _KEYS_FROM_ENVIRONMENT)
PORTAL_DEBUG_UNSET = _KEYS_FROM_ENVIRONMENT and not os.getenv("DEBUG", "").strip()  # check keydrop.E021

# Both keys are key material: django-cryptography derives the encryption key from
# CRYPTOGRAPHY_KEY and signs every ciphertext with SECRET_KEY. Losing or changing either
# without `manage.py rotate_keys` makes every stored secret unreadable.
_local = local_keys(DATA_DIR) if DEBUG else {}
SECRET_KEY = os.getenv("SECRET_KEY") or _local.get("SECRET_KEY", "")
PORTAL_ENCRYPTION_KEY = os.getenv("PORTAL_ENCRYPTION_KEY") or _local.get("PORTAL_ENCRYPTION_KEY", "")
PORTAL_USING_LOCAL_KEYS = not (os.getenv("SECRET_KEY") and os.getenv("PORTAL_ENCRYPTION_KEY"))
# A missing SECRET_KEY is reported by check keydrop.E020, which needs Django to start first: a
# random stand-in that no other process shares, and that sealing refuses to use.
PORTAL_SECRET_KEY_MISSING = not SECRET_KEY
SECRET_KEY = SECRET_KEY or "missing-" + secrets.token_urlsafe(50)
# Never fall back to SECRET_KEY: a missing key is reported by check keydrop.E001 instead.
CRYPTOGRAPHY_KEY = PORTAL_ENCRYPTION_KEY or None

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
PORTAL_BASE_URL = os.getenv("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", PORTAL_BASE_URL)
# The proxies in front of Keydrop (addresses or networks). Empty: the socket's peer is the client.
# See portal/client.py for how the client's address is found behind them.
PORTAL_TRUSTED_PROXIES = parse_networks(envlist("PORTAL_TRUSTED_PROXIES", ""))

INSTALLED_APPS = [
    "portal.signin.apps.StaffAdminConfig",  # Django's admin on Keydrop's admin site: a second factor, no free lookups
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "portal.signin",
    "portal",
    "keys",
    "intake",
    "axes",  # staff sign-in lockout, see "Partner staff workspace" below
]

MIDDLEWARE = [
    "portal.middleware.RequestLogMiddleware",  # first: its request id is on every log line of the request
    "portal.middleware.RequestBodyLimitMiddleware",  # before anything reads (or spools) a body
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.sessions.StaffSessionExpiryMiddleware",  # needs the user and messages: it signs out expired staff
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it turns a lockout into its 429 page
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.branding",
            ],
        },
    },
]

# The parts of pages and emails that are the same for every customer are rendered once per process
# (portal/fragments.py): Django's fragment cache uses "template_fragments". Secrets never go there.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "template-fragments",
        "TIMEOUT": None,
        "OPTIONS": {"MAX_ENTRIES": 1000},
    },
}

# Database: SQLite in the data folder unless DATABASE_URL says otherwise.
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{DATA_DIR / 'keydrop.sqlite3'}"),
        # Persistent connections in production: opening one per request cost 1.65x on PostgreSQL.
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue up instead of failing with "database is locked".
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        # secure_delete: freed bytes (a destroyed secret's ciphertext) are zeroed, not left in the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
    }
    # A file, not memory, so tests can look at what was really written to disk.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-keydrop.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.getenv("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Production serves hashed, compressed copies made by `manage.py collectstatic`, cached for a year
# (WhiteNoise marks hashed names immutable); check keydrop.E027 refuses to start without them.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Email: files under <data>/mail unless EMAIL_URL (smtp://user:pass@host:587/?tls=True) is set.
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Keydrop <keydrop@localhost>")
# Error reports and the stale-scheduler alert: ADMINS="Ops <ops@partner.com>, oncall@partner.com".
ADMINS = [(name, address) for name, address in getaddresses([os.getenv("ADMINS", "")]) if address]
SERVER_EMAIL = os.getenv("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = "[Keydrop] "
PORTAL_EMAIL_CONFIGURED = bool(os.getenv("EMAIL_URL"))  # check keydrop.E026
if os.getenv("EMAIL_URL"):
    _email = dj_email_url.parse(os.environ["EMAIL_URL"])
    EMAIL_BACKEND = _email.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or 20
    if _email.get("EMAIL_FILE_PATH"):
        EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"

# Security: strict by default, relaxed only for local http.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer or monitor may ask a web node directly over http; its answer holds nothing secret.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS proxy the scheme comes from X-Forwarded-Proto, which the proxy must set (deploy/nginx).
if envbool("SECURE_PROXY_SSL_HEADER", bool(PORTAL_TRUSTED_PROXIES)):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Preloading HSTS is a decision for the whole domain, made at hstspreload.org, not by one app.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.errors.SecretScrubbingFilter"
DEFAULT_EXCEPTION_REPORTER = "portal.errors.KeydropExceptionReporter"  # a bad request gets Keydrop's 400 page
PORTAL_ERROR_MAIL_INTERVAL_SECONDS = envint("PORTAL_ERROR_MAIL_INTERVAL_SECONDS", 15 * 60, minimum=1)
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
# Secret fields can be long; the forms reject anything over 4 KB themselves.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# Keydrop takes no uploads: a larger body is refused (413) before anything reads or spools it.
PORTAL_MAX_REQUEST_BYTES = envint("PORTAL_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1)

# Logs: LOG_FORMAT=json writes one JSON object per line. Every record carries the request id, and
# intake, verification and calendar tokens are redacted from every line (portal/logs.py).
LOG_FORMAT = envchoice("LOG_FORMAT", "plain", ["plain", "json"])
LOG_DIR = DATA_DIR / "logs"
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "keydrop": {"()": "portal.logs.KeydropFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["keydrop"]},
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": LOG_DIR / "keydrop.log",
            "formatter": LOG_FORMAT,
            "filters": ["keydrop"],
        },
        # At most one email per kind of error per PORTAL_ERROR_MAIL_INTERVAL_SECONDS (portal/error_mail.py).
        "mail_admins": {
            "class": "portal.error_mail.ThrottledAdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "keydrop"],
        },
    },
    "root": {"handlers": ["console", "file"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},  # server errors to ADMINS
        # A Host that is not allowed, too many fields: anyone can send those, so they are logged, not mailed.
        "django.security": {"handlers": ["console", "file"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},  # Keydrop writes its own request lines
    },
}

# django-q2. Tasks are delivered at least once and their arguments are stored in the
# database, so every Keydrop task is idempotent and takes no secret as an argument.
Q_CLUSTER = {
    "name": "keydrop",
    "workers": envint("Q_WORKERS", 2, minimum=1),
    "timeout": 120,  # must stay below retry, or a slow task is handed out twice
    "retry": 300,
    "max_attempts": 3,  # the default retries a failing task forever
    "catch_up": False,  # after downtime run a schedule once, not once per missed slot
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 1,
    "label": "Task queue",
}
if os.getenv("REDIS_URL"):
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]
else:
    Q_CLUSTER["orm"] = "default"

# Partner identity, shown to customers. Production refuses to run without it (keydrop.E029): customers
# have never heard of Keydrop, and would be asked to "Authorize Keydrop".
PORTAL_PARTNER_NAME = os.getenv("PORTAL_PARTNER_NAME", "")
PORTAL_PARTNER_NAME_UNSET = not PORTAL_PARTNER_NAME
PORTAL_PARTNER_NAME = PORTAL_PARTNER_NAME or "Keydrop"
PORTAL_SUPPORT_EMAIL = os.getenv("PORTAL_SUPPORT_EMAIL", "support@keydrop.invalid")
# Partner branding on intake pages, the admin header and every email: an optional logo (an https
# address, or a path on this site) and an accent colour (#rrggbb). Checked by keydrop.E040/E041.
PORTAL_PARTNER_LOGO_URL = os.getenv("PORTAL_PARTNER_LOGO_URL", "")
PORTAL_PARTNER_COLOUR = os.getenv("PORTAL_PARTNER_COLOUR", "#1f5fbf")
# The email address the partner is registered with at Instructure, which a customer choosing
# "Instructure Partner" in Identity Services is asked for. Empty: the steps do not name one.
PORTAL_PARTNER_KEY_EMAIL = os.getenv("PORTAL_PARTNER_KEY_EMAIL", "")

# Verified key release: Instructure's rules (intake/rules.py) as defaults. A partner may tighten
# them; check keydrop.W002 warns when one is looser.
PORTAL_CODE_LIFETIME = envseconds("PORTAL_CODE_LIFETIME_SECONDS", rules.CODE_LIFETIME)
PORTAL_CODE_MAX_RESENDS = envint("PORTAL_CODE_MAX_RESENDS", rules.MAX_RESENDS, minimum=1)
PORTAL_CODE_MAX_ATTEMPTS = envint("PORTAL_CODE_MAX_ATTEMPTS", rules.MAX_ATTEMPTS, minimum=1)
PORTAL_VERIFICATION_WINDOW = envseconds("PORTAL_VERIFICATION_WINDOW_SECONDS", rules.WINDOW)

# Flood protection for the public intake links (per rolling hour).
PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR = envint("PORTAL_CODE_EMAILS_PER_CONTACT_PER_HOUR", 8, minimum=1)
PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR = envint("PORTAL_SUBMISSIONS_PER_LINK_PER_HOUR", 12, minimum=1)
PORTAL_SUBMISSIONS_PER_IP_PER_HOUR = envint("PORTAL_SUBMISSIONS_PER_IP_PER_HOUR", 20, minimum=1)

# What a Canvas API developer key must look like for this partner (shown on the intake page):
# a TOML file named by PORTAL_DEVELOPER_KEY_FILE, or the samples (refused in production, keydrop.E025).
PORTAL_DEVELOPER_KEY_FILE = os.getenv("PORTAL_DEVELOPER_KEY_FILE", "")
PORTAL_DEVELOPER_KEY = developer_key.load_or_sample(PORTAL_DEVELOPER_KEY_FILE)

# Renewal reminders: days before expiry, plus the lapse notice on the day itself.
PORTAL_REMINDER_OFFSETS_DAYS = sorted(
    {int(d) for d in envlist("PORTAL_REMINDER_OFFSETS_DAYS", "30,14,7,3,1")}, reverse=True
)
# Reminders this close to expiry (and the lapse notice) also go to partner staff.
PORTAL_FINAL_REMINDER_DAYS = envint("PORTAL_FINAL_REMINDER_DAYS", 3, minimum=0)
PORTAL_STAFF_EMAILS = envlist("PORTAL_STAFF_EMAILS", "")

# Every claim a sweep takes (reminders, check alerts, campaign emails, live checks) lasts at least
# this long, and always past the end of the sweep's time by the longest a send in flight may take
# (keys/outbox.py); a worker that dies leaves what it claimed to the next sweep once the claim runs out.
PORTAL_CLAIM_SECONDS = envint("PORTAL_CLAIM_SECONDS", 600, minimum=1)
retired(
    {
        f"PORTAL_{name}_CLAIM_SECONDS": "every sweep's claim follows PORTAL_CLAIM_SECONDS."
        for name in ("REMINDER", "CHECK", "CAMPAIGN")
    }
)

# Partner staff workspace
# Staff sign-in (see docs/staff-guide.md, "Staff sign-in"). A wrong password counts against the pair (username,
# client address): PORTAL_LOGIN_FAILURE_LIMIT of them lock that pair for PORTAL_LOGIN_LOCKOUT_MINUTES,
# and a success clears that pair only. Failures against one username from anywhere count too: past
# PORTAL_LOGIN_USERNAME_FAILURE_LIMIT in a day, each attempt waits a doubling back-off (not a lock),
# which a browser that has signed in to that account before does not wait for. Staff lift a pair's
# lock early by deleting its "Access attempt".
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("PORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("PORTAL_LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
# One combined parameter: failures from one address against one account. Separate "username" and
# "ip_address" parameters let anyone lock any account, and made a success reset other accounts' failures.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # clears the (username, address) pair that signed in, nothing else
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a refused attempt is not a guess: it does not count
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_USERNAME_CALLABLE = "portal.login.axes_username"  # stores what was typed, cut to a username's length
AXES_CLIENT_IP_CALLABLE = "portal.client.client_ip"  # the address flood limits and audit events record
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}  # no start-up banner on every command's stderr
PORTAL_LOGIN_USERNAME_FAILURE_LIMIT = envint("PORTAL_LOGIN_USERNAME_FAILURE_LIMIT", 20, minimum=1)
# Failed sign-ins from one address, to any usernames, in an hour; then its attempts wait.
PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT = envint("PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT", 30, minimum=1)
PORTAL_LOGIN_BACKOFF_FIRST = envseconds("PORTAL_LOGIN_BACKOFF_FIRST_SECONDS", timedelta(minutes=1))
PORTAL_LOGIN_BACKOFF_MAX = envseconds("PORTAL_LOGIN_BACKOFF_MAX_SECONDS", timedelta(minutes=15))
PORTAL_LOGIN_KNOWN_BROWSER_DAYS = envint("PORTAL_LOGIN_KNOWN_BROWSER_DAYS", 90, minimum=1)

# A second factor (TOTP, with one-time recovery codes) is required of superusers and of anyone holding
# one of these permissions; the others may enrol. The account permissions are here because whoever
# holds them can grant themselves the rest.
PORTAL_SECOND_FACTOR_PERMISSIONS = [
    "keys.reveal_credential_secret",
    "keys.revoke_credential",
    "keys.complete_partner_credential",
    "keys.export_csv",  # a list of every institution's admin addresses is what a phisher wants
    "keys.manage_pipelines",  # a pipeline token reaches credentials without anyone signing in
    "auth.add_user",
    "auth.change_user",
    "auth.add_group",
    "auth.change_group",
]
# Revealing a secret needs a second-factor check this recent; older sessions are asked again.
PORTAL_REVEAL_SECOND_FACTOR_SECONDS = envint("PORTAL_REVEAL_SECOND_FACTOR_SECONDS", 15 * 60, minimum=1)
PORTAL_RECOVERY_CODE_COUNT = 10
# Wrong codes wait per (account, address) and per address (portal/signin/second_factor.py), not per
# device: django-otp's per-device throttle would let a password holder keep the owner waiting.
OTP_TOTP_THROTTLE_FACTOR = OTP_STATIC_THROTTLE_FACTOR = 0
OTP_TOTP_ISSUER = os.getenv("PORTAL_PARTNER_NAME", "Keydrop") + " Keydrop"

# Optional single sign-on for staff through OpenID Connect (off unless OIDC_RP_CLIENT_ID is set). It signs
# in existing, active staff accounts only, matched by e-mail address; it never creates one.
PORTAL_SSO_ENABLED = bool(os.getenv("OIDC_RP_CLIENT_ID"))
if PORTAL_SSO_ENABLED:
    AUTHENTICATION_BACKENDS += ["portal.signin.sso.StaffOIDCBackend"]
OIDC_RP_CLIENT_ID = os.getenv("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.getenv("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = os.getenv("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = os.getenv("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = os.getenv("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = os.getenv("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = os.getenv("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = True
OIDC_CREATE_USER = False
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "admin:sso_callback"
OIDC_STORE_ACCESS_TOKEN = OIDC_STORE_ID_TOKEN = False  # no token of the identity provider in the session
PORTAL_SSO_LABEL = os.getenv("PORTAL_SSO_LABEL", "Sign in with single sign-on")
# Only when the partner's identity provider itself demands a second factor of every staff member.
PORTAL_SSO_SATISFIES_SECOND_FACTOR = envbool("PORTAL_SSO_SATISFIES_SECOND_FACTOR", False)
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?sso=failed"

# Staff sessions: at most 12 hours from sign-in, and 30 minutes without a request.
PORTAL_STAFF_SESSION_MAX_AGE = envseconds("PORTAL_STAFF_SESSION_MAX_AGE_SECONDS", timedelta(hours=12))
PORTAL_STAFF_SESSION_IDLE = envseconds("PORTAL_STAFF_SESSION_IDLE_SECONDS", timedelta(minutes=30))
SESSION_COOKIE_AGE = int(PORTAL_STAFF_SESSION_MAX_AGE.total_seconds())

# Live checks: Keydrop asks Canvas whether each key works, at hand-over and every day after.
# Every outbound request goes through keys.instructure.outbound: https only, no redirects, these limits, and
# never to a private, loopback or link-local address. PORTAL_OUTBOUND_ALLOW_PRIVATE=1 allows plain
# http to loopback, for tests and local fakes only (check keydrop.E031 refuses it in production).
PORTAL_DAP_API_URL = os.getenv("PORTAL_DAP_API_URL", "https://api-gateway.instructure.com").rstrip("/")
PORTAL_OUTBOUND_ALLOW_PRIVATE = envbool("PORTAL_OUTBOUND_ALLOW_PRIVATE", False)
PORTAL_OUTBOUND_CONNECT_TIMEOUT = envint("PORTAL_OUTBOUND_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
PORTAL_OUTBOUND_READ_TIMEOUT = envint("PORTAL_OUTBOUND_READ_TIMEOUT_SECONDS", 10, minimum=1)
# All the requests of one check together.
PORTAL_OUTBOUND_DEADLINE = envint("PORTAL_OUTBOUND_DEADLINE_SECONDS", 30, minimum=1)
PORTAL_OUTBOUND_MAX_RESPONSE_BYTES = envint("PORTAL_OUTBOUND_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1)
# The receipt waits at most this long for Canvas; an inconclusive answer is retried in the background.
PORTAL_HANDOVER_CHECK_SECONDS = envint("PORTAL_HANDOVER_CHECK_SECONDS", 8, minimum=1)
PORTAL_CHECK_INTERVAL = timedelta(hours=envint("PORTAL_CHECK_INTERVAL_HOURS", 24, minimum=1))
# Checks started per Canvas host per minute, across every worker (Canvas Data 2 keys share one host).
PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE = envint("PORTAL_CHECK_RATE_PER_HOST_PER_MINUTE", 20, minimum=1)
PORTAL_CHECK_HISTORY_DAYS = envint("PORTAL_CHECK_HISTORY_DAYS", 90, minimum=1)
# Staff hear once when a key has had nothing but inconclusive answers for this long.
PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS = envint("PORTAL_CHECK_INCONCLUSIVE_ALERT_DAYS", 10, minimum=1)
# A key that needs a fix in Canvas (Off, scopes, redirect URI) is kept sealed this long, checked hourly,
# then its secret is destroyed; its contacts are told the day before.
PORTAL_FIX_WINDOW_DAYS = envint("PORTAL_FIX_WINDOW_DAYS", 7, minimum=1)
# Outbound URLs carry key ids and state in their queries: httpx's request log stays off.
LOGGING["loggers"].update({"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}})

# Invitation campaigns: a chaser goes to institutions that have not handed over a key this many
# days after the previous email, at most PORTAL_CAMPAIGN_MAX_CHASERS times; no contact address
# gets more than PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY campaign emails a day (the rest wait).
PORTAL_CAMPAIGN_CHASE_AFTER_DAYS = envint("PORTAL_CAMPAIGN_CHASE_AFTER_DAYS", 7, minimum=1)
PORTAL_CAMPAIGN_MAX_CHASERS = envint("PORTAL_CAMPAIGN_MAX_CHASERS", 2, minimum=0)
PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY = envint("PORTAL_CAMPAIGN_EMAILS_PER_CONTACT_PER_DAY", 2, minimum=1)

# Pipelines: the JSON API under /api/v1/ (keys/pipelines/), its tokens and webhooks. Each token may make
# this many requests a minute (a 429 with Retry-After past it); a webhook endpoint that has refused every
# delivery for PORTAL_WEBHOOK_DISABLE_AFTER_DAYS is disabled and staff are told.
PORTAL_API_REQUESTS_PER_MINUTE = envint("PORTAL_API_REQUESTS_PER_MINUTE", 120, minimum=1)
PORTAL_WEBHOOK_DISABLE_AFTER_DAYS = envint("PORTAL_WEBHOOK_DISABLE_AFTER_DAYS", 3, minimum=1)
