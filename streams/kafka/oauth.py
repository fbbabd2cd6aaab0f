"""OIDC client-credentials tokens for faust's (aiokafka's) OAUTHBEARER login.

librdkafka fetches and renews its own tokens (`sasl.oauthbearer.method=oidc`); aiokafka asks a token
provider instead. This one speaks the same flow, from the same librdkafka settings, so faust's
client logs in as the same principal as the engine's: a client_credentials grant (RFC 6749 4.4) with
the client id and secret in HTTP Basic auth, and a new token once three quarters of the last one's
lifetime have passed.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson
from aiokafka.abc import AbstractTokenProvider  # type: ignore[import-untyped]

_RENEW_AT = 0.75  # of a token's lifetime
_DEFAULT_LIFETIME_S = 300.0  # when the endpoint doesn't say (expires_in is only RECOMMENDED)
_TIMEOUT_S = 10.0


class TokenEndpointError(Exception):
    """The identity provider refused the client or answered without a token; never quotes the secret."""


class ClientCredentialsTokens(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka has no type hints
    def __init__(
        self,
        token_endpoint_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> None:
        self._url = token_endpoint_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._extensions = dict(extensions or {})
        self._token: str | None = None
        self._renew_at = 0.0

    @classmethod
    def from_librdkafka(cls, login: Mapping[str, Any]) -> ClientCredentialsTokens:
        """The provider for a login made by streams.kafka.clients.client_security."""
        extensions = login.get("sasl.oauthbearer.extensions", "")
        return cls(
            login["sasl.oauthbearer.token.endpoint.url"],
            login["sasl.oauthbearer.client.id"],
            login["sasl.oauthbearer.client.secret"],
            login.get("sasl.oauthbearer.scope"),
            dict(pair.split("=", 1) for pair in extensions.split(",") if pair),
        )

    async def token(self) -> str:
        if self._token is None or time.monotonic() >= self._renew_at:
            # urllib blocks: off the event loop, where faust's heartbeats run.
            token, lifetime = await asyncio.get_running_loop().run_in_executor(None, self.fetch)
            self._token, self._renew_at = token, time.monotonic() + _RENEW_AT * lifetime
        return self._token

    def extensions(self) -> dict[str, str]:
        return dict(self._extensions)

    def fetch(self) -> tuple[str, float]:
        """A new access token and its lifetime in seconds, from the token endpoint."""
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        # RFC 6749 2.3.1: the id and secret are form-encoded before they go into Basic auth.
        pair = f"{urllib.parse.quote(self._client_id)}:{urllib.parse.quote(self._client_secret)}"
        request = urllib.request.Request(  # noqa: S310 - the configured endpoint, http(s) only
            self._url,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310 - a configured URL
                answer = orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            raise TokenEndpointError(f"the token endpoint answered HTTP {error.code}") from None
        except (OSError, orjson.JSONDecodeError) as error:
            reason = type(error).__name__
            raise TokenEndpointError(f"the token endpoint could not be read: {reason}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenEndpointError("the token endpoint answered without an access_token")
        lifetime = answer.get("expires_in")
        if isinstance(lifetime, int | float) and lifetime > 0:
            return token, float(lifetime)
        return token, _DEFAULT_LIFETIME_S
