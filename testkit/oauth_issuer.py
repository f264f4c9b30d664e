"""A small OAuth2 client-credentials issuer with a JWKS endpoint, on 127.0.0.1, for the real-server tier.

A stand-in for the identity provider (OpenChoreo installs Thunder or an external IdP), which is not what these
tests examine: it lets the real `openchoreo-api` validate real RS256 JWTs against a real JWKS URL. It issues a
token to a registered client that posts `grant_type=client_credentials`, `client_id` and `client_secret` as form
fields (client_secret_post); the token's `sub` is the client id, `iss` is this issuer's URL, the header names the
signing key's `kid`. It answers a wrong secret with 401 `invalid_client`, as the project's fake does.

Signing uses the `openssl` CLI (RSA-SHA256, PKCS#1 v1.5 = RS256), so no crypto library is needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from testkit.loopback_http import LoopbackHttpServer

TOKEN_PATH = "/oauth2/token"
JWKS_PATH = "/oauth2/jwks"
TOKEN_LIFETIME_SECONDS = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OAuthIssuer:
    """Use as a context manager. `clients` maps client id to secret; more can be added while it runs."""

    def __init__(self, directory: Path, clients: dict[str, str]) -> None:
        self.clients = dict(clients)
        self.issued: list[dict[str, Any]] = []  # the claims of every token issued
        # The next N tokens are signed with a key the JWKS does not publish (same kid): the API must answer 401.
        self.untrusted_tokens = 0
        self._key = directory / "issuer-signing.key"
        self._rogue_key = directory / "rogue-signing.key"
        directory.mkdir(parents=True, exist_ok=True)
        for key in (self._key, self._rogue_key):
            subprocess.run(
                ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
                check=True,
                capture_output=True,
            )
        modulus_hex = subprocess.run(
            ["openssl", "rsa", "-in", str(self._key), "-noout", "-modulus"], check=True, capture_output=True, text=True
        ).stdout.strip()
        modulus = bytes.fromhex(modulus_hex.removeprefix("Modulus="))
        self.kid = hashlib.sha256(modulus).hexdigest()[:16]
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url(modulus),
            "e": _b64url((65537).to_bytes(3, "big")),
        }
        self._http = LoopbackHttpServer("oauth-issuer")
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    def __enter__(self) -> OAuthIssuer:
        self._http.start(type("Handler", (_Handler,), {"issuer": self}))
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}

    def sign(self, claims: dict[str, Any], *, trusted: bool = True) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self._key if trusted else self._rogue_key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def token_response(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client_id = form.get("client_id", "")
        with self._lock:
            expected = self.clients.get(client_id)
        if expected is None or form.get("client_secret") != expected:
            return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": client_id,
            "client_id": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        with self._lock:
            self.issued.append(claims)
            trusted = self.untrusted_tokens <= 0
            self.untrusted_tokens -= 0 if trusted else 1
        token = self.sign(claims, trusted=trusted)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}


class _Handler(BaseHTTPRequestHandler):
    issuer: OAuthIssuer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == JWKS_PATH:
            self._answer(200, self.issuer.jwks())
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        if self.path != TOKEN_PATH:
            self._answer(404, {"error": "not_found"})
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            self._answer(400, {"error": "invalid_request", "error_description": "form body expected"})
            return
        form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
        self._answer(*self.issuer.token_response(form))
