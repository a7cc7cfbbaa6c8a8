"""Authentication: API tokens (hashed), proxied DNs only from trusted proxies, WLCG/OIDC JWTs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.conftest import DN_OPERATOR, DN_VIEWER, PROXY, Api
from wms2.api import create_app
from wms2.api.auth import hash_token
from wms2.config import Settings
from wms2.db.auth_tables import ApiTokenRow
from wms2.db.base import utcnow
from wms2.db.session import Database

ISSUER = "https://cms-auth.example.cern.ch/"


def test_tokens_are_stored_hashed(api: Api) -> None:
    with api.db.session() as s:
        rows = list(s.scalars(select(ApiTokenRow)))
    stored = {r.token_hash for r in rows}
    assert api.tokens["alice"] not in stored and hash_token(api.tokens["alice"]) in stored
    assert all(len(h) == 64 for h in stored)


def test_revoked_token_is_refused(api: Api) -> None:
    assert api.get("/status", who="bob").status_code == 200
    with api.db.session() as s:
        s.scalar(select(ApiTokenRow).where(ApiTokenRow.name == "bob")).revoked_at = utcnow()
    api.client.app.state.ctx.auth.forget()
    assert api.get("/status", who="bob").status_code == 401


def test_malformed_authorization_is_401(api: Api) -> None:
    r = api.client.get("/api/v1/status", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]


def _dn_client(api: Api, peer: str) -> TestClient:
    return TestClient(api.client.app, client=(peer, 40000))


def test_dn_from_trusted_proxy(api: Api) -> None:
    with _dn_client(api, PROXY) as c:
        r = c.get("/api/v1/status", headers={"X-SSL-Client-S-DN": DN_OPERATOR})
        assert r.status_code == 200 and r.json()["role"] == "operator" and r.json()["identity"] == DN_OPERATOR
        viewer = c.post("/api/v1/sites/T2_XX_Alpha/drain", json={"reason": "x"},
                        headers={"X-SSL-Client-S-DN": DN_VIEWER})
        assert viewer.status_code == 403
        unknown = c.get("/api/v1/status", headers={"X-SSL-Client-S-DN": "/CN=stranger"})
        assert unknown.status_code == 403 and "no WMS2 role" in unknown.json()["detail"]


def test_spoofed_dn_from_elsewhere_is_ignored(api: Api) -> None:
    with _dn_client(api, "192.0.2.77") as c:
        r = c.get("/api/v1/status", headers={"X-SSL-Client-S-DN": DN_OPERATOR})
        assert r.status_code == 401
        # a real token still works, and the spoofed header does not raise its role
        r = c.post("/api/v1/sites/T2_XX_Alpha/drain", json={"reason": "x"},
                   headers={"X-SSL-Client-S-DN": DN_OPERATOR, **api.headers("viewer")})
        assert r.status_code == 403


@pytest.fixture
def jwt_setup(tmp_path: Path, api_settings: Settings) -> tuple[Settings, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    s = api_settings.model_copy(deep=True)
    s.api.jwt_issuer = ISSUER
    s.api.jwt_jwks_path = jwks
    s.api.jwt_audience = "wms2"
    s.api.jwt_roles = {"/cms/production": "operator", "/cms": "viewer"}
    return s, key


def _token(key: rsa.RSAPrivateKey, **claims: object) -> str:
    base = {"iss": ISSUER, "sub": "u123", "aud": "wms2", "exp": int(time.time()) + 600,
            "wlcg.groups": ["/cms"], "preferred_username": "carol"}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


def test_jwt_validation(db: Database, jwt_setup: tuple[Settings, rsa.RSAPrivateKey]) -> None:
    settings, key = jwt_setup
    with TestClient(create_app(settings, db)) as c:
        def status(token: str) -> int:
            return c.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"}).status_code

        ok = c.get("/api/v1/status", headers={"Authorization": f"Bearer {_token(key)}"})
        assert ok.status_code == 200 and ok.json()["identity"] == "carol" and ok.json()["role"] == "viewer"
        prod = _token(key, **{"wlcg.groups": ["/cms", "/cms/production"]})
        assert c.get("/api/v1/status", headers={"Authorization": f"Bearer {prod}"}).json()["role"] == "operator"
        assert status(_token(key, iss="https://evil.example/")) == 401
        assert status(_token(key, aud="other")) == 401
        assert status(_token(key, exp=int(time.time()) - 3600)) == 401
        assert status(_token(key, **{"wlcg.groups": ["/atlas"]})) == 403
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert status(_token(other)) == 401
