"""ACLs against a real broker, over every way the gateway logs in: each principal can do what it
needs, and no more.

The session fixture starts a secured local broker on free ports (never the plain one on 19092)
and stops it afterwards: SASL_PLAINTEXT and SASL_SSL with SCRAM-SHA-512, SASL_SSL with OAUTHBEARER
tokens from a development token endpoint (tests/integration/token_endpoint.py), and mutual TLS with
client certificates its development CA signs. Every test runs once per login, on topics of its own.
There is no skip: if the broker can't start, these tests error.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.cli import main
from streams.config import GatewayConfig, parse_config
from streams.devtools import localbroker
from streams.kafka.clients import consumer_settings, producer_settings
from streams.kafka.topics import missing_topics
from tests.integration.gateway_process import gateway_running
from tests.integration.kafka_io import read_all, wait_committed
from tests.integration.token_endpoint import token_endpoint

pytestmark = pytest.mark.integration

USERS = ("gateway", "collector", "eu-tools", "us-tools")
_KEY_PASSWORDS = {"gateway": "key-secret"}
LOGINS = ("SASL_PLAINTEXT", "SASL_SSL", "SSL", "OAUTHBEARER")
POLICY = """
policy_version: acl-test
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: rg{run}
  partitions: 1
  security: {security}
topics:
  ingest: [a{run}.ingest]
  quarantine: a{run}.quarantine
  dead_letter: a{run}.dead-letter
  audit: a{run}.audit
  erasure: a{run}.erasure
destinations:
  global: {{topic: a{run}.global, purpose: analytics}}
regions:
  eu: {{countries: [EU27], topic: a{run}.eu, transfers: {{global: pseudonymized}}}}
  us: {{countries: [US], topic: a{run}.us, transfers: {{global: pseudonymized}}}}
  row: {{countries: "*", topic: a{run}.row}}
access:
  acls: true
  gateway_principal: "User:gateway"
  collector_principals: ["User:collector"]
  regions:
    eu: {{consumer_principals: ["User:eu-tools"]}}
    us: {{consumer_principals: ["User:us-tools"]}}
"""


@dataclass(frozen=True)
class SecuredBroker:
    port: int
    ca: str
    passwords: dict[str, str]  # SCRAM passwords and OAuth client secrets, the admin's included
    certificates: dict[str, localbroker.ClientCertificate]
    token_endpoint: str


@dataclass(frozen=True)
class Secured:
    login: str
    bootstrap: str
    config: GatewayConfig
    env: dict[str, str]  # the admin's and the gateway's logins, as `topics apply` and `run` read them
    gateway_env: dict[str, str]  # the gateway's alone
    logins: dict[str, dict[str, Any]]  # user → librdkafka settings that log in as that user ("admin" too)
    policy: Path
    first_apply: str


def _free_ports() -> int:
    # Four consecutive ports from 19110: clear of 19092-19098, which the suite's, the faults', the
    # sweep's and the bench's brokers take.
    for port in range(19110, 19310, 4):
        if not any(_in_use(p) for p in range(port, port + 4)):
            return port
    raise RuntimeError("no four free ports for the secured broker")


def _in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def secured_broker() -> Iterator[SecuredBroker]:
    port = _free_ports()
    localbroker.start(port=port, secure=True, timeout=120)
    try:
        passwords = {user: secrets.token_urlsafe(16) for user in USERS}
        localbroker.add_scram_users(port, {u: p for u, p in passwords.items() if u != "eu-tools"})
        # One login made as docs/access.md shows it: the password piped in, no prompt.
        piped = subprocess.run(
            [sys.executable, "-m", "streams", "broker", "user", "eu-tools", "--port", str(port)],
            input=f"{passwords['eu-tools']}\n".encode(),
            capture_output=True,
            timeout=120,
        )
        assert piped.returncode == 0, piped.stderr
        assert b"User:eu-tools: SCRAM-SHA-512 credential stored" in piped.stdout
        admin = localbroker.admin_settings(port)
        passwords["admin"] = admin["sasl.password"]
        # Client certificates; the gateway's key is encrypted.
        certificates = {
            user: localbroker.issue_client_certificate(port, user, _KEY_PASSWORDS.get(user))
            for user in (*USERS, "admin")
            if user != "collector"
        }
        # One made as docs/access.md shows it.
        issued = subprocess.run(
            [sys.executable, "-m", "streams", "broker", "cert", "collector", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert issued.returncode == 0, issued.stderr
        paths = dict(line.split(maxsplit=1) for line in issued.stdout.splitlines()[1:])
        assert paths["ca"] == str(localbroker.ca_location(port))
        certificates["collector"] = localbroker.ClientCertificate(
            Path(paths["certificate"]), Path(paths["key"]), None
        )
        with token_endpoint(passwords) as (url, _issued):
            yield SecuredBroker(port, str(localbroker.ca_location(port)), passwords, certificates, url)
    finally:
        localbroker.stop(port)


def _login(broker: SecuredBroker, login: str, user: str) -> dict[str, Any]:
    """librdkafka settings that log in as `user` over `login`."""
    port, secret = broker.port, broker.passwords[user]
    if login == "SASL_PLAINTEXT":
        return {
            "bootstrap.servers": f"127.0.0.1:{port}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": secret,
        }
    tls = {"bootstrap.servers": f"127.0.0.1:{port + 2}", "ssl.ca.location": broker.ca}
    if login == "SASL_SSL":
        return {
            **tls,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": secret,
        }
    if login == "OAUTHBEARER":
        return {
            **tls,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": user,
            "sasl.oauthbearer.client.secret": secret,
            "sasl.oauthbearer.token.endpoint.url": broker.token_endpoint,
        }
    certificate = broker.certificates[user]
    settings = {
        **tls,
        "bootstrap.servers": f"127.0.0.1:{port + 3}",
        "security.protocol": "SSL",
        "ssl.certificate.location": str(certificate.certificate),
        "ssl.key.location": str(certificate.key),
    }
    if certificate.key_password is not None:
        settings["ssl.key.password"] = certificate.key_password
    return settings


def _security_and_env(broker: SecuredBroker, login: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The policy's kafka.security for `login`, and the gateway's and the admin's environment for it."""
    if login in {"SASL_PLAINTEXT", "SASL_SSL"}:
        ca = "" if login == "SASL_PLAINTEXT" else f", ssl_ca_location: '{broker.ca}'"
        security = f"{{protocol: {login}, sasl_mechanism: SCRAM-SHA-512{ca}}}"
        gateway = {
            "RESIDENCY_GATEWAY_KAFKA_USERNAME": "gateway",
            "RESIDENCY_GATEWAY_KAFKA_PASSWORD": broker.passwords["gateway"],
        }
        admin = {
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_USERNAME": "admin",
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_PASSWORD": broker.passwords["admin"],
        }
    elif login == "OAUTHBEARER":
        security = (
            f"{{protocol: SASL_SSL, sasl_mechanism: OAUTHBEARER, ssl_ca_location: '{broker.ca}', "
            f"oauthbearer: {{token_endpoint_url: '{broker.token_endpoint}', scope: kafka}}}}"
        )
        gateway = {
            "RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_ID": "gateway",
            "RESIDENCY_GATEWAY_KAFKA_OAUTH_CLIENT_SECRET": broker.passwords["gateway"],
        }
        admin = {
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_OAUTH_CLIENT_ID": "admin",
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_OAUTH_CLIENT_SECRET": broker.passwords["admin"],
        }
    else:
        security = f"{{protocol: SSL, ssl_ca_location: '{broker.ca}'}}"
        mine, theirs = broker.certificates["gateway"], broker.certificates["admin"]
        gateway = {
            "RESIDENCY_GATEWAY_KAFKA_SSL_CERTIFICATE": str(mine.certificate),
            "RESIDENCY_GATEWAY_KAFKA_SSL_KEY": str(mine.key),
            "RESIDENCY_GATEWAY_KAFKA_SSL_KEY_PASSWORD": "key-secret",
        }
        admin = {
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_CERTIFICATE": str(theirs.certificate),
            "RESIDENCY_GATEWAY_KAFKA_ADMIN_SSL_KEY": str(theirs.key),
        }
    return security, gateway, admin


@pytest.fixture(scope="session", params=LOGINS)
def secured(
    request: pytest.FixtureRequest, secured_broker: SecuredBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    login: str = request.param
    logins = {user: _login(secured_broker, login, user) for user in (*USERS, "admin")}
    bootstrap = logins["gateway"]["bootstrap.servers"]
    security, gateway_env, admin_env = _security_and_env(secured_broker, login)
    env = {**gateway_env, **admin_env}
    text = POLICY.format(bootstrap=bootstrap, run=uuid.uuid4().hex[:10], security=security)
    path = tmp_path_factory.mktemp(f"acls-{login.lower()}") / "policy.yaml"
    path.write_text(text)
    first = _apply(path, env)
    yield Secured(login, bootstrap, parse_config(text), env, gateway_env, logins, path, first)


@pytest.fixture(autouse=True)
def _logins_in_the_environment(secured: Secured, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's environment holds its login's variables, as `run` and `topics apply` read them,
    and nothing else of the kind; undone after the test, so no later test sees them."""
    for name in list(os.environ):
        if name.startswith("RESIDENCY_GATEWAY_KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in secured.env.items():
        monkeypatch.setenv(name, value)


def _apply(path: Path, env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, ["topics", "apply", "--config", str(path)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _refusal(consumer: Consumer, timeout: float = 15.0) -> int | None:
    """Poll until the consumer reports an error; its code, or None if it read a record or timed out."""
    for _ in range(int(timeout / 0.5)):
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is None:
            return None
        if error.code() != KafkaError._PARTITION_EOF:
            return int(error.code())
    return None


def _read_one(settings: dict[str, Any], topic: str, group: str) -> bytes | None:
    consumer = Consumer(
        {**settings, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    try:
        consumer.subscribe([topic])
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                consumer.commit(message=message, asynchronous=False)  # committing needs the group's READ
                return message.value()
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
        return None
    finally:
        consumer.close()


def _refused_reading(settings: dict[str, Any], topic: str, group: str) -> int | None:
    consumer = Consumer({**settings, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        return _refusal(consumer)
    finally:
        consumer.close()


def _refused_fetching(settings: dict[str, Any], topic: str) -> int | None:
    """What a principal with no group of its own gets for `topic`: its metadata error, if no record came."""
    consumer = Consumer({**settings, "group.id": "none-of-its-own", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(6):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return None  # it read a record
        error = consumer.list_topics(topic, timeout=10).topics[topic].error
        return None if error is None else int(error.code())
    finally:
        consumer.close()


def _produce(settings: dict[str, Any], topic: str, value: bytes) -> int | None:
    """Produce one record and wait; the error code, or None once the broker acknowledged it."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**settings, "message.timeout.ms": 15_000})
    producer.produce(topic, value, on_delivery=lambda error, _message: outcome.append(error))
    producer.flush(20)
    assert outcome, f"no delivery report for {topic}"
    return None if outcome[0] is None else int(outcome[0].code())


def _transactional(config: GatewayConfig, transactional_id: str) -> dict[str, Any]:
    settings = producer_settings(config.kafka, config.kafka.bootstrap_servers)
    timeouts = {"transaction.timeout.ms": 30_000, "message.timeout.ms": 30_000}
    return {**settings, **timeouts, "transactional.id": transactional_id}


def _as_admin(secured: Secured) -> dict[str, Any]:
    return secured.logins["admin"]


def test_apply_grants_once_and_reports_no_change_when_run_again(secured: Secured) -> None:
    assert "created  " in secured.first_apply and "granted  User:us-tools READ topic" in secured.first_apply
    again = _apply(secured.policy, secured.env)
    assert "created  " not in again and "granted  " not in again
    assert "acls     nothing changed: all" in again


def test_the_us_reader_is_refused_on_the_eu_topic_and_reads_its_own(secured: Secured) -> None:
    eu, us = secured.config.regions["eu"].topic, secured.config.regions["us"].topic
    admin = _as_admin(secured)
    assert _produce(admin, eu, b"eu-record") is None
    assert _produce(admin, us, b"us-record") is None
    reader = secured.logins["us-tools"]
    assert _refused_reading(reader, eu, "us-probe") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _read_one(reader, us, "us-dashboards") == b"us-record"
    # Its groups are us-*: another region's group names are refused too.
    assert _refused_reading(reader, us, "eu-dashboards") == KafkaError.GROUP_AUTHORIZATION_FAILED
    assert _read_one(secured.logins["eu-tools"], eu, "eu-dashboards") == b"eu-record"


def test_the_gateway_consumes_ingest_writes_every_output_in_a_transaction_and_commits(
    secured: Secured,
) -> None:
    config, bootstrap = secured.config, secured.bootstrap
    ingest = config.topics.ingest[0]
    assert missing_topics(config, bootstrap) == []  # as the gateway, it sees every topic it uses
    assert _produce(secured.logins["collector"], ingest, b"raw-event") is None

    consumer = Consumer(consumer_settings(config.kafka, bootstrap))
    producer = Producer(_transactional(config, f"{config.kafka.group_id}-worker-1"))
    try:
        consumer.subscribe([ingest])
        message = None
        for _ in range(40):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None and message.value() == b"raw-event"
        outputs = [
            *(region.topic for region in config.regions.values()),
            *(destination.topic for destination in config.destinations.values()),
            config.topics.quarantine,
            config.topics.dead_letter,
            config.topics.audit,
            *(config.subject_keys_topic(region) for region in config.regions),
        ]
        producer.init_transactions(20)
        producer.begin_transaction()
        for topic in outputs:
            producer.produce(topic, b"routed", key=b"subject")  # subject-key topics are compacted: keyed
        offsets = [TopicPartition(message.topic(), message.partition(), message.offset() + 1)]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 20)
        producer.commit_transaction(20)
        committed = consumer.committed([TopicPartition(ingest, message.partition())], timeout=20)
        assert committed[0].offset == message.offset() + 1
    finally:
        consumer.close()

    # It restores subject keys: it may read back the compacted topics it writes.
    store = config.subject_keys_topic("eu")
    restore = Consumer(
        {**consumer_settings(config.kafka, bootstrap), "group.id": f"{config.kafka.group_id}-subjects-x"}
    )
    try:
        restore.assign([TopicPartition(store, 0, 0)])
        message = restore.poll(10)
        assert message is not None and message.error() is None and message.value() == b"routed"
    finally:
        restore.close()


def test_the_gateway_is_refused_what_it_does_not_need(secured: Secured) -> None:
    config = secured.config
    gateway = secured.logins["gateway"]
    # Reading a regional topic it only writes.
    assert _refused_reading(gateway, config.regions["eu"].topic, config.kafka.group_id) == (
        KafkaError.TOPIC_AUTHORIZATION_FAILED
    )
    # Writing what collectors write.
    assert _produce(gateway, config.topics.ingest[0], b"forged") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Creating topics.
    client = AdminClient(gateway)
    future = client.create_topics([NewTopic(f"{config.kafka.group_id}-new", 1, 1)], request_timeout=20)
    with pytest.raises(KafkaException) as created:
        next(iter(future.values())).result()
    assert created.value.args[0].code() in {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }
    # A transactional id outside <group_id>-*.
    outsider = Producer(_transactional(config, "someone-else-1"))
    with pytest.raises(KafkaException) as fenced:
        outsider.init_transactions(20)
    assert fenced.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_collectors_write_ingest_but_read_nothing(secured: Secured) -> None:
    config = secured.config
    collector = secured.logins["collector"]
    assert _produce(collector, config.topics.ingest[0], b"raw") is None
    assert _refused_fetching(collector, config.regions["eu"].topic) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _produce(collector, config.regions["us"].topic, b"forged") == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_run_logs_in_as_the_gateway_and_routes_under_its_acls_alone(
    secured: Secured, secured_broker: SecuredBroker, tmp_path: Path
) -> None:
    config = secured.config
    ingest, eu = config.topics.ingest[0], config.regions["eu"].topic
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(secured.policy.read_text())
    # The gateway's login only, in the variables the config names: never the admin's.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESIDENCY_GATEWAY_KAFKA_")}
    env.update(secured.gateway_env)
    port = _free_port()
    events = [
        orjson.dumps(
            {
                "type": "track",
                "event": "Signed Up",
                "messageId": f"run-{i}",
                "userId": f"u{i}",
                "context": {"ip": "89.160.20.112"},
            }  # Sweden: region eu
        )
        for i in range(5)
    ]

    options = ("--worker-id", "w1", "--web-port", str(port))
    with gateway_running(config_path, tmp_path / "gateway.log", *options, env=env) as gateway:
        for event in events:
            assert _produce(secured.logins["collector"], ingest, event) is None
        admin = _as_admin(secured)
        wait_committed(secured.bootstrap, config.kafka.group_id, ingest, timeout=120, login=admin)
        health = _health(port)
        # The engine routes before faust's own consumer has joined its group: wait for that too.
        gateway.wait_for_log("[^Worker]: Ready")
    log_text = gateway.log_text
    assert gateway.code == 0, log_text[-3000:]
    # Earlier tests left records on ingest too; the gateway has read ours at least.
    assert health["status"] == "ok" and health["records_in"] >= len(events), health
    # faust logged in as the gateway, joined its group and declared its topic without a refusal
    # (an anonymous or wrong principal is refused its group), and logged no secret.
    authenticated = {
        "SASL_PLAINTEXT": "Authenticated as gateway via SCRAM-SHA-512",
        "SASL_SSL": "Authenticated as gateway via SCRAM-SHA-512",
        "OAUTHBEARER": "Authenticated via OAUTHBEARER",
        "SSL": "[^Worker]: Ready",  # aiokafka logs no line for a certificate: the TLS handshake is it
    }
    assert authenticated[secured.login] in log_text
    assert "not authorized" not in log_text and "AuthorizationFailed" not in log_text, log_text[-3000:]
    assert secured_broker.passwords["gateway"] not in log_text and "key-secret" not in log_text

    # eu-tools reads as its downstream tools would: read_committed, in one of its eu-* groups.
    records = read_all(secured.bootstrap, [eu], login=secured.logins["eu-tools"], group_prefix="eu-run-")[eu]
    arrived = {orjson.loads(r.value)["messageId"] for r in records if r.value and r.value.startswith(b"{")}
    assert arrived >= {f"run-{i}" for i in range(5)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health(port: int, attempts: int = 50) -> dict[str, Any]:
    for _ in range(attempts):
        try:
            url = f"http://127.0.0.1:{port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return orjson.loads(response.read())  # type: ignore[no-any-return]
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"/health on port {port} never answered")
