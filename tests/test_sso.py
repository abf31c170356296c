"""Optional single sign-on for staff (OpenID Connect), against an identity provider on loopback.

The provider here is a small real HTTP server: it signs ID tokens with its own RSA key and
publishes the public half as a JWKS, as a real one does; Keydrop exchanges the code, checks the
signature, nonce and audience, and asks for the user's e-mail address.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from keys.models import AuditEvent
from tests.staff_cast import SECRET

pytestmark = pytest.mark.django_db
CLIENT_ID = "keydrop-staff"


class Provider:
    """What the identity provider will say next: whose sign-in, and with which nonce and auth_time."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.email, self.nonce, self.auth_time, self.audience = "dana@partner.example", "", None, CLIENT_ID
        self.tokens_issued = []

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "idp-user-1",
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            "email": self.email,
        }
        if self.auth_time is not None:
            claims["auth_time"] = self.auth_time
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}


@pytest.fixture
def idp():
    provider = Provider()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, body, status=200):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            if self.path == "/token":
                access = f"access-{len(provider.tokens_issued)}-do-not-store"
                token = provider.id_token()
                provider.tokens_issued += [access, token]
                self._json({"access_token": access, "id_token": token, "token_type": "Bearer", "expires_in": 300})
            else:
                self._json({"error": "not_found"}, 404)

        def do_GET(self):
            if self.path == "/jwks":
                self._json(provider.jwks())
            elif self.path.startswith("/userinfo"):
                self._json({"sub": "idp-user-1", "email": provider.email, "email_verified": True})
            else:
                self._json({"error": "not_found"}, 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: several suites run at once
    provider.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def sso(idp, settings):
    settings.PORTAL_SSO_ENABLED = True
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "portal.signin.sso.StaffOIDCBackend"]
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "client-secret-of-keydrop"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = idp.url + "/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = idp.url + "/token"
    settings.OIDC_OP_USER_ENDPOINT = idp.url + "/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = idp.url + "/jwks"
    return idp


def single_sign_on(client, idp, next_url="/admin/", fresh=False):
    """The browser's round trip: to the provider and back with a code."""
    start = client.get("/admin/sso/start/", {"next": next_url, **({"fresh": "1"} if fresh else {})})
    assert start.status_code == 302 and start["Location"].startswith(idp.url + "/authorize?")
    query = parse_qs(urlparse(start["Location"]).query)
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    idp.nonce = query["nonce"][0]
    return client.get("/admin/sso/callback/", {"code": "code-from-provider", "state": query["state"][0]}), query


def test_the_login_page_offers_single_sign_on_when_configured(sso, dana):
    assert "Sign in with single sign-on" in Client().get("/admin/login/").content.decode()


def test_without_configuration_there_is_no_single_sign_on(dana):
    assert Client().get("/admin/sso/start/").status_code == 404
    assert Client().get("/admin/sso/callback/", {"code": "x", "state": "y"}).status_code == 404
    assert "single sign-on" not in Client().get("/admin/login/").content.decode()


def test_a_staff_member_signs_in_but_still_owes_keydrops_second_factor(sso, dana):
    client = Client()
    response, _ = single_sign_on(client, sso)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 302  # on to the second factor: the provider's word is not enough
    event = AuditEvent.objects.get(action=AuditEvent.Action.SIGN_IN)
    assert (event.actor, event.detail) == ("dana", "with single sign-on")


def test_the_provider_satisfies_the_second_factor_only_when_the_partner_says_so(sso, dana, credential, settings):
    settings.PORTAL_SSO_SATISFIES_SECOND_FACTOR = True
    sso.auth_time = int(time.time())
    client = Client()
    single_sign_on(client, sso)
    assert client.get("/admin/").status_code == 200
    revealed = client.post(f"/admin/keys/credential/{credential.pk}/reveal/", {"reason": "checking the pipeline key"})
    assert SECRET in revealed.content.decode()


def test_a_reveal_long_after_the_providers_sign_in_goes_back_to_the_provider(sso, dana, credential, settings):
    settings.PORTAL_SSO_SATISFIES_SECOND_FACTOR = True
    sso.auth_time = int(time.time()) - 20 * 60  # the provider remembered a sign-in from 20 minutes ago
    client = Client()
    single_sign_on(client, sso)
    response = client.get(f"/admin/keys/credential/{credential.pk}/reveal/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/sso/start/?")
    sso.auth_time = int(time.time())  # the person signs in at the provider again
    again, query = single_sign_on(client, sso, next_url=f"/admin/keys/credential/{credential.pk}/reveal/", fresh=True)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    assert again["Location"] == f"/admin/keys/credential/{credential.pk}/reveal/"
    assert SECRET in client.post(again["Location"], {"reason": "checking the pipeline key"}).content.decode()


def test_nobody_without_a_staff_account_gets_in(sso, bob, django_user_model):
    django_user_model.objects.create_user("eve", "eve@partner.example", "x", is_staff=False)
    for email in ["stranger@partner.example", "eve@partner.example"]:
        sso.email = email
        client = Client()
        response, _ = single_sign_on(client, sso)
        assert response["Location"] == "/admin/login/?sso=failed"
        assert client.get("/admin/").status_code == 302
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_FAILED, detail="single sign-on").count() == 2


def test_a_token_issued_to_another_client_is_refused(sso, dana):
    sso.audience = "some-other-app"
    response, _ = single_sign_on(Client(), sso)
    assert response["Location"] == "/admin/login/?sso=failed"


def test_an_unreachable_provider_is_a_failed_sign_in_not_an_error(sso, dana, settings):
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"  # the discard port: nothing listens
    response, _ = single_sign_on(Client(), sso)
    assert response["Location"] == "/admin/login/?sso=failed"


def test_no_token_of_the_provider_is_kept_in_the_session(sso, dana):
    client = Client()
    single_sign_on(client, sso)
    stored = json.dumps(dict(client.session.items()))
    assert sso.tokens_issued and not any(token in stored for token in sso.tokens_issued)
