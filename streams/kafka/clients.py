"""librdkafka settings for the gateway's consumer and producer, derived from the config."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaException, Producer

from streams.config import KafkaSecurity, KafkaSettings


class KafkaClients(NamedTuple):
    """What makes the engine's consumer and producers from their settings.

    confluent-kafka's clients in production (CONFLUENT); unit tests pass clients of their own,
    so the engine's batching, hold, abort and commit logic runs without a broker.
    """

    consumer: Callable[[dict[str, Any]], Consumer]
    producer: Callable[[dict[str, Any]], Producer]


CONFLUENT = KafkaClients(Consumer, Producer)


def consumer_settings(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": kafka.group_id,
        # Offsets are committed only after every output of a batch is acknowledged.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Collectors that write transactionally must not leak aborted payloads through us.
        "isolation.level": "read_committed",
        # Per topic: each worker gets its share of the ingest partitions. cooperative-sticky
        # balances the total over all subscribed topics, and once gave one worker every ingest
        # partition and the other every erasure partition (loadtests.bench, 2 workers: 4/0).
        "partition.assignment.strategy": "range",
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(1000, kafka.session_timeout_ms // 5),
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65536,
        **client_security(kafka.security),
        **kafka.client_settings.consumer,  # none of the above: check-config refuses those
    }


def producer_settings(
    kafka: KafkaSettings, bootstrap: str, transactional_id: str | None = None
) -> dict[str, Any]:
    """Settings for a producer; with `transactional_id`, one that writes in Kafka transactions."""
    durable = kafka.acks == "all"
    transactions: dict[str, Any] = {}
    if transactional_id is not None:
        transactions = {
            "transactional.id": transactional_id,
            "transaction.timeout.ms": kafka.transaction_timeout_ms,
            # librdkafka requires a record's delivery timeout to fit inside its transaction's.
            "message.timeout.ms": kafka.transaction_timeout_ms,
            # A transaction begun right after the last one's commit is told CONCURRENT_TRANSACTIONS
            # until the commit markers are written, and retries after this backoff (librdkafka's
            # default 100 ms, the floor of every batch at a light load; Kafka's Java client waits
            # 20 ms there, KAFKA-5477). At 300 payloads/s: p50/p99 98/223 ms → 52/115 ms
            # (docs/performance.md).
            "retry.backoff.ms": 20,
        }
    return {
        "bootstrap.servers": bootstrap,
        **client_security(kafka.security),
        "acks": kafka.acks,
        # librdkafka ships with idempotence off; without it a retry can duplicate or reorder.
        "enable.idempotence": durable,
        "linger.ms": kafka.linger_ms,
        "compression.type": kafka.compression,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # Never give up on a record silently; a stuck broker surfaces as a failed flush instead.
        "message.timeout.ms": 300_000,
        **transactions,
        **kafka.client_settings.producer,  # none of the above: check-config refuses those
    }


def unknown_client_settings(kafka: KafkaSettings) -> list[str]:
    """A problem, with its config path, for each kafka.client_settings property librdkafka refuses
    (unknown, or a value it can't take), found by building each client offline: no connection."""
    from confluent_kafka.admin import AdminClient

    quiet: dict[str, Any] = {"log_level": 0}

    def consumer(extra: dict[str, Any]) -> None:
        Consumer({**quiet, "group.id": "check-config", **extra}).close()

    def producer(extra: dict[str, Any]) -> None:
        Producer({**quiet, **extra})

    def admin(extra: dict[str, Any]) -> None:
        AdminClient({**quiet, **extra})

    build: dict[str, Callable[[dict[str, Any]], None]] = {
        "consumer": consumer,
        "producer": producer,
        "admin": admin,
    }
    problems = []
    for role, make in build.items():
        for name, value in getattr(kafka.client_settings, role).items():
            try:
                make({name: value})
            except (KafkaException, ValueError, TypeError) as error:
                reason = error.args[0].str() if isinstance(error, KafkaException) else str(error)
                problems.append(f"kafka.client_settings.{role}.{name}: {reason}")
    return problems


def admin_settings(
    bootstrap: str, security: KafkaSecurity | None = None, *, as_admin: bool = True
) -> dict[str, Any]:
    """An admin client's settings: the admin's login (topics, ACLs) unless `as_admin` is False."""
    return {"bootstrap.servers": bootstrap, **client_security(security, as_admin=as_admin)}


class KafkaLoginMissing(Exception):
    """The config asks for a login (SASL, client certificate, OAuth) whose environment variables are unset."""


def client_security(security: KafkaSecurity | None, *, as_admin: bool = False) -> dict[str, Any]:
    """librdkafka's security.protocol and login: the gateway's, or the admin's with `as_admin`.

    Secrets and certificate paths are read from the environment variables the config names, when
    the client is made: a missing one raises KafkaLoginMissing naming the variables, never a value.
    """
    if security is None or security.protocol == "PLAINTEXT":
        return {}
    settings: dict[str, Any] = {"security.protocol": security.protocol}
    if security.protocol in {"SSL", "SASL_SSL"} and security.ssl_ca_location is not None:
        settings["ssl.ca.location"] = security.ssl_ca_location
    if security.protocol == "SSL":
        return settings | _client_certificate(security, as_admin)
    if security.sasl_mechanism == "OAUTHBEARER":
        return settings | _oidc_login(security, as_admin)
    username, password = _required(
        security.protocol,
        (security.admin_username_env, security.admin_password_env)
        if as_admin
        else (security.username_env, security.password_env),
        as_admin,
    )
    return settings | {
        "sasl.mechanism": security.sasl_mechanism,
        "sasl.username": username,
        "sasl.password": password,
    }


def _client_certificate(security: KafkaSecurity, as_admin: bool) -> dict[str, Any]:
    """mTLS: the client certificate and key named by the environment; the key's password if it has one."""
    names = (
        (security.admin_ssl_certificate_env, security.admin_ssl_key_env, security.admin_ssl_key_password_env)
        if as_admin
        else (security.ssl_certificate_env, security.ssl_key_env, security.ssl_key_password_env)
    )
    certificate, key = _required("SSL", names[:2], as_admin)
    for name, path in zip(names[:2], (certificate, key), strict=True):
        if not os.path.isfile(path):
            raise KafkaLoginMissing(f"{name} names {path!r}, which is not a readable file")
    settings = {"ssl.certificate.location": certificate, "ssl.key.location": key}
    password = os.environ.get(names[2])
    if password:
        settings["ssl.key.password"] = password
    return settings


def _oidc_login(security: KafkaSecurity, as_admin: bool) -> dict[str, Any]:
    """OAUTHBEARER through librdkafka's built-in OIDC client: it fetches and renews the token itself."""
    oauth = security.oauthbearer
    assert oauth is not None  # KafkaSecurity's validation: OAUTHBEARER comes with its settings
    client_id, client_secret = _required(
        security.protocol,
        (oauth.admin_client_id_env, oauth.admin_client_secret_env)
        if as_admin
        else (oauth.client_id_env, oauth.client_secret_env),
        as_admin,
    )
    settings: dict[str, Any] = {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": client_id,
        "sasl.oauthbearer.client.secret": client_secret,
        "sasl.oauthbearer.token.endpoint.url": oauth.token_endpoint_url,
    }
    if oauth.scope is not None:
        settings["sasl.oauthbearer.scope"] = oauth.scope
    if oauth.extensions:
        settings["sasl.oauthbearer.extensions"] = ",".join(f"{k}={v}" for k, v in oauth.extensions.items())
    return settings


def _required(protocol: str, names: tuple[str, ...], as_admin: bool) -> list[str]:
    unset = [name for name in names if not os.environ.get(name)]
    if unset:
        who = "the admin's" if as_admin else "the gateway's"
        raise KafkaLoginMissing(
            f"kafka.security.protocol is {protocol}: set {' and '.join(unset)} to {who} Kafka login"
        )
    return [os.environ[name] for name in names]


def transactional_id(kafka: KafkaSettings, worker_id: str) -> str | None:
    """The engine producer's transactional id, or None when delivery is at least once.

    It must be stable across restarts of one worker (a restart then fences its earlier
    self and aborts the transaction a kill left open, instead of making read_committed
    readers wait out transaction_timeout_ms) and distinct between workers of a group.
    """
    if kafka.delivery != "exactly_once":
        return None
    return f"{kafka.group_id}-{worker_id}"
