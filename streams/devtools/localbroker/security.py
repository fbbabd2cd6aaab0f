"""SASL, TLS and ACLs for the local broker: its admin's credentials, listeners, and SCRAM users.

A secured broker has three client listeners, on consecutive ports: SASL_PLAINTEXT with
SCRAM-SHA-512 (the port asked for), SASL_SSL with SCRAM-SHA-512 or OAUTHBEARER (port + 2),
and SSL with client certificates, mutual TLS (port + 3); the controller takes port + 1. It runs
KRaft's StandardAuthorizer with `allow.everyone.if.no.acl.found=false`: a principal
may do only what an ACL grants it. The admin is the one super user. The controller
listener authenticates with SASL/PLAIN (KRaft controllers can't check SCRAM
credentials, which live in the metadata log they serve), as the same admin.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streams.devtools.localbroker import tls
from streams.devtools.localbroker.fetch import BrokerError

SECURITY_PROTOCOL = "SASL_PLAINTEXT"
SASL_MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "admin"
# Marks a state directory whose broker runs secured, so status and stop know how to talk to it.
MARKER = "secured"
_CREDENTIALS = "admin.json"
_ITERATIONS = 8192  # Kafka's minimum for SCRAM-SHA-512 is 4096


@dataclass(frozen=True)
class SecuredPorts:
    """The secured broker's four ports, consecutive from the one `broker start --secure --port` takes."""

    sasl_plaintext: int

    @property
    def controller(self) -> int:
        return self.sasl_plaintext + 1

    @property
    def sasl_ssl(self) -> int:
        return self.sasl_plaintext + 2

    @property
    def ssl(self) -> int:
        return self.sasl_plaintext + 3

    def all(self) -> tuple[int, ...]:
        return (self.sasl_plaintext, self.controller, self.sasl_ssl, self.ssl)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def admin_credentials(state: Path) -> Credentials:
    """The local broker's admin, made once per state directory and kept in a file only its owner reads."""
    path = state / _CREDENTIALS
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        document = {"username": ADMIN_USER, "password": secrets.token_urlsafe(24)}
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(document, out)
    stored = json.loads(path.read_text())
    return Credentials(stored["username"], stored["password"])


def credentials_path(state: Path) -> Path:
    return state / _CREDENTIALS


def client_settings(credentials: Credentials) -> dict[str, Any]:
    """librdkafka settings that authenticate as `credentials` on the secured listener."""
    return {
        "security.protocol": SECURITY_PROTOCOL,
        "sasl.mechanism": SASL_MECHANISM,
        "sasl.username": credentials.username,
        "sasl.password": credentials.password,
    }


def format_arguments(admin: Credentials) -> list[str]:
    """StorageTool arguments that store the admin's SCRAM credential in the first metadata log."""
    return ["--add-scram", f"{SASL_MECHANISM}=[name={admin.username},password={admin.password}]"]


def server_properties(ports: SecuredPorts, host: str, admin: Credentials, state: Path) -> str:
    """The secured broker's listeners, logins and authorizer; the caller adds the single-node settings."""
    scram_login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{admin.username}" password="{admin.password}";'
    )
    plain_login = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{admin.username}" password="{admin.password}" '
        f'user_{admin.username}="{admin.password}";'
    )
    oauth_login = (
        # Kafka's unsecured-JWS validator (the default server callback for OAUTHBEARER): it checks a
        # token's form, expiry and subject, not a signature. A real cluster validates signed tokens
        # against its identity provider's keys (docs/access.md, "OAuth"); the client side is the same.
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        f'unsecuredLoginStringClaim_sub="{admin.username}";'
    )
    return f"""\
# Written by residency-gateway broker start --secure: a single-node broker+controller with
# SASL/SCRAM, TLS (mTLS and SASL_SSL), OAUTHBEARER and ACLs, for development and tests.
# docs/access.md explains each setting.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{ports.controller}
listeners=SASL_PLAINTEXT://{host}:{ports.sasl_plaintext},CONTROLLER://{host}:{ports.controller},\
SASL_SSL://{host}:{ports.sasl_ssl},SSL://{host}:{ports.ssl}
advertised.listeners=SASL_PLAINTEXT://{host}:{ports.sasl_plaintext},SASL_SSL://{host}:{ports.sasl_ssl},\
SSL://{host}:{ports.ssl}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
listener.name.sasl_plaintext.sasl.enabled.mechanisms={SASL_MECHANISM}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={scram_login}
sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain_login}
sasl.mechanism.controller.protocol=PLAIN
# TLS: the development CA's broker certificate (streams/devtools/localbroker/tls.py), in PEM.
ssl.keystore.type=PEM
ssl.keystore.location={tls.broker_keystore(state)}
ssl.truststore.type=PEM
ssl.truststore.location={tls.ca_path(state)}
# SASL_SSL: SCRAM-SHA-512 logins or OAUTHBEARER tokens, over TLS.
listener.name.sasl_ssl.sasl.enabled.mechanisms={SASL_MECHANISM},OAUTHBEARER
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram_login}
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config={oauth_login}
# SSL: mutual TLS. A client without a certificate the CA signed is refused; CN=<name> is User:<name>.
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# Fail closed: a resource nobody granted is refused to everyone but the super user.
allow.everyone.if.no.acl.found=false
super.users=User:{admin.username}
"""


def add_scram_users(
    bootstrap: str, admin: Credentials, users: Mapping[str, str], timeout: float = 30.0
) -> None:
    """Create or replace the SCRAM-SHA-512 credential of each user (name → password), as the admin."""
    client = AdminClient({"bootstrap.servers": bootstrap, **client_settings(admin)})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _ITERATIONS)
    upserts = [UserScramCredentialUpsertion(name, info, secret.encode()) for name, secret in users.items()]
    futures = client.alter_user_scram_credentials(upserts, request_timeout=timeout)  # type: ignore[arg-type]
    problems = []
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as error:  # collected, so every failure is reported together
            problems.append(f"{name}: {error}")
    if problems:
        raise BrokerError("could not store SCRAM credentials: " + "; ".join(problems))
