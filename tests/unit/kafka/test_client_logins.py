"""mTLS and OAUTHBEARER logins (no broker): the settings each client gets, for the engine and faust alike,
and the config mistakes that are refused. tests/integration/test_acls.py runs them on a real broker."""

from __future__ import annotations

import asyncio
import base64
import http.server
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import faust
import orjson
import pytest
from faust.types.auth import AuthProtocol

from streams.config import ConfigError, KafkaSecurity, parse_config
from streams.devtools.localbroker import tls
from streams.kafka.clients import KafkaLoginMissing, admin_settings, client_security
from streams.kafka.oauth import ClientCredentialsTokens, TokenEndpointError
from streams.service.worker import broker_credentials

OAUTH = {
    "token_endpoint_url": "https://idp.example.com/oauth2/token",
    "scope": "kafka",
    "extensions": {"logicalCluster": "lkc-abc", "identityPoolId": "pool-x"},
}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tls.ClientCertificate]:
    state = tmp_path_factory.mktemp("tls")
    return tls.ca_path(state), tls.issue_client_certificate(state, "gateway", key_password="key-secret")


def _policy(security: str) -> str:
    return (
        "policy_version: t\nkafka:\n  security: " + security + "\n"
        "regions:\n  eu: {countries: [EU27], topic: t.eu}\n  row: {countries: '*', topic: t.row}\n"
    )


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def test_mtls_reads_the_certificate_key_and_password_from_the_environment(
    certificates: tuple[Path, tls.ClientCertificate], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, client = certificates
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE", str(client.certificate))
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY", str(client.key))
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY_PASSWORD", "key-secret")
    security = KafkaSecurity(protocol="SSL", ssl_ca_location=str(ca))
    assert client_security(security) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(client.certificate),
        "ssl.key.location": str(client.key),
        "ssl.key.password": "key-secret",
    }
    # The admin has a certificate of its own, and without it `topics apply` names what to set.
    with pytest.raises(KafkaLoginMissing, match="RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_CERTIFICATE and "):
        admin_settings("b:1", security)


def test_a_certificate_variable_naming_no_file_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE", "/nowhere/cert.pem")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY", "/nowhere/key.pem")
    with pytest.raises(KafkaLoginMissing, match="RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE names"):
        client_security(KafkaSecurity(protocol="SSL"))


def test_faust_presents_the_same_client_certificate(
    certificates: tuple[Path, tls.ClientCertificate], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, client = certificates
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE", str(client.certificate))
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY", str(client.key))
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY_PASSWORD", "key-secret")
    credentials = broker_credentials(client_security(KafkaSecurity(protocol="SSL", ssl_ca_location=str(ca))))
    assert isinstance(credentials, faust.SSLCredentials) and credentials.protocol is AuthProtocol.SSL
    assert credentials.context.verify_mode == ssl.CERT_REQUIRED and credentials.context.check_hostname
    # A wrong key password fails here, when faust's client is made, not at its first connection.
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_SSL_KEY_PASSWORD", "wrong")
    with pytest.raises(ssl.SSLError):
        broker_credentials(client_security(KafkaSecurity(protocol="SSL", ssl_ca_location=str(ca))))


@pytest.fixture(autouse=True)
def _no_kafka_login_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it means; none leaks in from the machine or another test."""
    for name in list(os.environ):
        if name.startswith("RESIDENCY_GATEWAY_KAFKA_"):
            monkeypatch.delenv(name)


def test_oauthbearer_uses_librdkafkas_oidc_client_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_ID", "gateway-client")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_SECRET", "oauth-secret")
    security = KafkaSecurity.model_validate(
        {"protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER", "oauthbearer": OAUTH}
    )
    assert client_security(security) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "gateway-client",
        "sasl.oauthbearer.client.secret": "oauth-secret",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/oauth2/token",
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-abc,identityPoolId=pool-x",
    }
    with pytest.raises(KafkaLoginMissing, match="RESIDENCY_GATEWAY_KAFKA_ADMIN_OAUTH_CLIENT_ID and "):
        admin_settings("b:1", security)
    credentials = broker_credentials(client_security(security))
    assert isinstance(credentials, faust.OAuthCredentials) and credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.oauth_cb.extensions() == OAUTH["extensions"]
    assert "oauth-secret" not in repr(credentials)


def test_oauth_settings_must_go_with_their_mechanism() -> None:
    missing = _problems(_policy("{protocol: SASL_SSL, sasl_mechanism: OAUTHBEARER}"))
    assert any(p.startswith("kafka.security: ") and "needs kafka.security.oauthbearer" in p for p in missing)
    stray = _problems(_policy("{protocol: SSL, oauthbearer: {token_endpoint_url: 'https://idp/t'}}"))
    assert any("oauthbearer is used only with a SASL protocol" in p for p in stray)
    bad_extension = _problems(
        _policy(
            "{protocol: SASL_SSL, sasl_mechanism: OAUTHBEARER, "
            "oauthbearer: {token_endpoint_url: 'https://idp/t', extensions: {pool: 'a,b'}}}"
        )
    )
    assert any(p.startswith("kafka.security.oauthbearer.extensions.pool") for p in bad_extension)


def test_a_token_or_secret_in_the_clear_is_refused() -> None:
    over_plaintext = _problems(
        _policy(
            "{protocol: SASL_PLAINTEXT, sasl_mechanism: OAUTHBEARER, "
            "oauthbearer: {token_endpoint_url: 'https://idp/t'}}"
        )
    )
    assert any(
        p.startswith("kafka.security.sasl_mechanism: OAUTHBEARER over SASL_PLAINTEXT") for p in over_plaintext
    )
    plain_http = _problems(
        _policy(
            "{protocol: SASL_SSL, sasl_mechanism: OAUTHBEARER, "
            "oauthbearer: {token_endpoint_url: 'http://idp.example.com/t'}}"
        )
    )
    assert any(p.startswith("kafka.security.oauthbearer.token_endpoint_url: http://") for p in plain_http)
    # A token endpoint on this machine (a development identity provider) may speak plain http.
    parse_config(
        _policy(
            "{protocol: SASL_SSL, sasl_mechanism: OAUTHBEARER, "
            "oauthbearer: {token_endpoint_url: 'http://127.0.0.1:8080/t'}}"
        )
    )


@pytest.mark.parametrize(
    "name", ["sasl.oauthbearer.method", "sasl.kerberos.principal", "ssl.key.location", "ssl.ca.location"]
)
def test_the_login_cannot_be_changed_through_client_settings(name: str) -> None:
    text = _policy("{protocol: SSL}").replace(
        "kafka:\n", f"kafka:\n  client_settings: {{consumer: {{{name}: x}}}}\n"
    )
    assert any(
        p.startswith(f"kafka.client_settings.consumer.{name}: the gateway sets") for p in _problems(text)
    )


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[tuple[str | None, bytes]]] = []

    def do_POST(self) -> None:
        self.seen.append(
            (self.headers.get("Authorization"), self.rfile.read(int(self.headers["Content-Length"])))
        )
        status, body = self.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _TokenEndpoint.answers, _TokenEndpoint.seen = [], []
    server = http.server.HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()


def test_faust_fetches_a_client_credentials_token_and_reuses_it(endpoint: str) -> None:
    _TokenEndpoint.answers = [(200, orjson.dumps({"access_token": "tok-1", "expires_in": 3600}))]
    provider = ClientCredentialsTokens(endpoint, "gateway client", "s&cret", scope="kafka")

    async def twice() -> tuple[str, str]:
        return await provider.token(), await provider.token()

    assert asyncio.run(twice()) == ("tok-1", "tok-1")
    assert len(_TokenEndpoint.seen) == 1  # the second call reused the token
    authorization, body = _TokenEndpoint.seen[0]
    assert authorization == "Basic " + base64.b64encode(b"gateway%20client:s%26cret").decode()
    assert body == b"grant_type=client_credentials&scope=kafka"


def test_a_refusing_token_endpoint_is_reported_without_the_secret(endpoint: str) -> None:
    _TokenEndpoint.answers = [(401, b'{"error":"invalid_client"}'), (200, b'{"token_type":"bearer"}')]
    provider = ClientCredentialsTokens(endpoint, "gateway", "very-secret")
    with pytest.raises(TokenEndpointError, match="HTTP 401") as refused:
        provider.fetch()
    assert "very-secret" not in str(refused.value)
    with pytest.raises(TokenEndpointError, match="without an access_token"):
        provider.fetch()
