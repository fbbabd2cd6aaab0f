"""A development OAuth token endpoint for the local broker's OAUTHBEARER listener.

It answers the client-credentials grant (RFC 6749 4.4) as an identity provider would: the client id
and secret in HTTP Basic auth, a refusal (401) for an unknown client or a wrong secret, and for a
known one an access token whose subject is the client id, so the broker's principal is
User:<client id>. The token is an unsecured JWS (alg "none"), which is what Kafka's built-in
unsecured validator accepts (streams/devtools/localbroker/security.py); a production cluster checks
a signed token against its provider's keys instead. The clients' side of the flow is the one
production uses: librdkafka's `sasl.oauthbearer.method=oidc` and faust's ClientCredentialsTokens.
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import orjson

LIFETIME_S = 3600


def _part(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode()


def unsecured_token(subject: str, scope: str | None) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + LIFETIME_S}
    if scope:
        claims["scope"] = scope
    return f"{_part({'alg': 'none'})}.{_part(claims)}."


@contextmanager
def token_endpoint(clients: Mapping[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Serve tokens to `clients` (id → secret) on a free port; yields the URL and the ids served, in order."""
    issued: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
            client_id, _, secret = base64.b64decode(encoded or "Og==").decode().partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
            if (
                scheme != "Basic"
                or form.get("grant_type") != ["client_credentials"]
                or clients.get(client_id) != secret
            ):
                self._answer(401, {"error": "invalid_client"})
                return
            issued.append(client_id)
            scope = form.get("scope", [None])[0]
            token = unsecured_token(client_id, scope)
            self._answer(200, {"access_token": token, "token_type": "bearer", "expires_in": LIFETIME_S})

        def _answer(self, status: int, document: dict[str, object]) -> None:
            body = orjson.dumps(document)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="token-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/oauth2/token", issued
    finally:
        server.shutdown()
        server.server_close()
