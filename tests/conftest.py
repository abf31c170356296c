"""Shared fixtures: the cast (alice, bob, charlie, dana; bob as exporter) and an institution with
its key; which tests run where (real servers and clusters only in CI or when asked); fast password
hashing; static files from the source."""

import ipaddress
import socket

import httpcore
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import override_settings

from keys import kinds
from keys.checks import records
from keys.instructure import outbound
from keys.outcomes import Verdict
from tests import factories
from tests.ci import IN_CI
from tests.fakes import FakeCanvas, FakeDap, FakeKey
from tests.flows import VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET
from tests.staff_cast import REVEALER_CODENAMES, SECRET


def pytest_addoption(parser):
    parser.addoption(
        "--cluster",
        action="store_true",
        help=(
            "also run the tests that start real servers or processes: a qcluster (cluster), Chromium (browser), "
            "other Python processes (processes); on with CI=true"
        ),
    )
    parser.addoption(
        "--production", action="store_true", help="run only the production smoke test (marked production), as CI does"
    )


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    # The production smoke test is a step of its own (`make test-production`, run by .ci/run after the
    # PostgreSQL suite); every other run leaves it out, and --production runs nothing else.
    production = config.getoption("--production")
    chosen = [item for item in items if bool(item.get_closest_marker("production")) == production]
    if len(chosen) != len(items):
        kept = set(chosen)
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = chosen
    # postgres_only tests need PostgreSQL's parallel writers: on SQLite they wait for CI's PostgreSQL pass.
    on_sqlite = pytest.mark.skip(reason="runs on PostgreSQL (DATABASE_URL=postgres://…), as in CI's second pass")
    later = pytest.mark.skip(
        reason="starts real servers or processes (a qcluster, Chromium, commands): runs with CI=true or `make test-all`"
    )
    servers_too = IN_CI or config.getoption("--cluster")
    for item in items:
        if not servers_too and any(item.get_closest_marker(name) for name in ("cluster", "browser", "processes")):
            item.add_marker(later)
        if item.get_closest_marker("postgres_only") and connection.vendor != "postgresql":
            item.add_marker(on_sqlite)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """PBKDF2 is slow on purpose, which cost the suite about a minute; tests check who may sign in,
    not the strength of the hash. Production keeps Django's default hashers."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def static_files_from_the_source():
    """Production serves the hashed copies collectstatic makes (tests/test_static_files.py and the
    production smoke test check that); other tests render pages from the source files, which
    saves collecting them on every run."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
        yield


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """`collectstatic` as production runs it (hashed, compressed), once per run: <folder>/static."""
    from django.core.management import call_command

    folder = tmp_path_factory.mktemp("collected")
    manifest = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    with override_settings(STATIC_ROOT=folder / "static", STORAGES={**settings.STORAGES, "staticfiles": manifest}):
        call_command("collectstatic", interactive=False, verbosity=0)
    return folder / "static"


@pytest.fixture
def institution(db):
    return factories.InstitutionFactory(name="Example University", slug="example-u", contacts=["charlie@example.edu"])


@pytest.fixture
def charlie(institution):
    """The customer's Canvas admin, on file for the institution."""
    return institution.contacts.get(email="charlie@example.edu")


@pytest.fixture
def alice(db, django_user_model):
    """The partner's administrator: a superuser."""
    return django_user_model.objects.create_superuser("alice", "alice@partner.example", "alice-password-123")


@pytest.fixture
def bob(db, django_user_model):
    """A partner staff member without the reveal permission."""
    user = django_user_model.objects.create_user("bob", "bob@partner.example", "bob-password-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="keys", codename__startswith="view_"))
    return user


@pytest.fixture
def exporter(bob, django_user_model):
    """bob, also trusted to export lists as CSV: so he, like dana, must pass a second factor
    (``signed_in`` passes it for him)."""
    bob.user_permissions.add(Permission.objects.get(content_type__app_label="keys", codename="export_csv"))
    return django_user_model.objects.get(pk=bob.pk)  # a fresh object: bob's cached permissions are stale


@pytest.fixture
def dana(db, django_user_model):
    """A staff member trusted with secrets: view permissions plus reveal, revoke and complete."""
    user = django_user_model.objects.create_user("dana", "dana@partner.example", "dana-password-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="keys").filter(codename__startswith="view_")
        | Permission.objects.filter(content_type__app_label="keys", codename__in=REVEALER_CODENAMES)
    )
    return user


@pytest.fixture
def credential(institution):
    """Example University's active Canvas Data 2 key, with a known secret."""
    return factories.CredentialFactory(institution=institution, secret=SECRET)


# Nothing leaves this machine -------------------------------------------------------------------


@pytest.fixture
def fake_dns():
    """Names a test wants resolved (to loopback addresses only): {name: address}."""
    return {}


@pytest.fixture(autouse=True)
def nothing_leaves_this_machine(monkeypatch, fake_dns):
    """Canvas is never called from tests. Names resolve only through ``fake_dns``, and a
    connection to anything but loopback fails the test instead of being attempted."""
    real_resolve = outbound.resolve

    def resolve(host, port):
        if host in fake_dns:
            return [ipaddress.ip_address(fake_dns[host])]
        literal = outbound._ip_literal(host)
        if literal is not None or host.lower() in outbound.LOOPBACK_NAMES:
            return real_resolve(host, port)
        raise outbound.Unreachable(f"{host} is not resolved in tests: nothing leaves this machine")

    real_connect = httpcore.SyncBackend.connect_tcp

    def connect_tcp(self, host, port, *args, **kwargs):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name: only the guarded backend's own resolved addresses may pass
            loopback = False
        if not loopback:
            pytest.fail(f"a test tried to connect to {host}:{port}: nothing leaves this machine")
        return real_connect(self, host, port, *args, **kwargs)

    resolve.real = real_resolve  # for the tests of resolve itself, with getaddrinfo faked
    monkeypatch.setattr(outbound, "resolve", resolve)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)


@pytest.fixture
def resolver(monkeypatch):
    """This machine's resolver, faked where Keydrop's own ``resolve`` meets it (getaddrinfo):
    {name: address}. Every other name is "not found", so an empty table is a resolver that fails
    for every name; add Instructure's well-known names to make it a resolver that works."""
    names: dict[str, str] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if outbound._ip_literal(str(host)) is not None:  # sockets to loopback fakes look these up too
            return real_getaddrinfo(host, port, *args, **kwargs)
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(outbound, "resolve", outbound.resolve.real)
    return names


WORKING_RESOLVER = dict.fromkeys(outbound.WELL_KNOWN_NAMES, "151.101.1.1")


@pytest.fixture
def fake_dap(settings):
    """Instructure's DAP login on loopback; Keydrop's checks call it (plain http to loopback)."""
    fake = FakeDap().start()
    settings.PORTAL_DAP_API_URL = fake.url
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True
    yield fake
    fake.stop()


@pytest.fixture
def developer_key(fake_canvas, institution, settings):
    """Example University's developer key at the fake Canvas, accepted at hand-over, awaiting the
    admin's grant (tests/test_oauth_grant.py ``authorize`` completes it through Keydrop's callback)."""
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}  # Keydrop's callback
    settings.PORTAL_BASE_URL = "http://testserver"
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    fake_canvas.browser = "approve"
    callback = settings.PORTAL_BASE_URL + kinds.OAUTH_CALLBACK_PATH
    fake_canvas.add_key(VALID_DEV_KEY_ID, FakeKey(secret=VALID_DEV_KEY_SECRET, redirect_uris=[callback], scopes=scopes))
    key = factories.developer_key_credential(institution, VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET, fake_canvas.url)
    records.record(key, Verdict.works("Canvas knows the key and the secret matches."), trigger=records.Trigger.HANDOVER)
    return key


@pytest.fixture
def fake_canvas(settings):
    """An institution's Canvas on loopback: its OAuth endpoints, without a user."""
    fake = FakeCanvas().start()
    settings.PORTAL_OUTBOUND_ALLOW_PRIVATE = True
    yield fake
    fake.stop()
