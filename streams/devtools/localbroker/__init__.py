"""A real single-node Apache Kafka broker (and Kafka Connect, for tests) fetched through Maven: no Docker."""

from streams.devtools.localbroker.connect import CONNECT_STANDALONE_MAIN, ensure_connect_jars
from streams.devtools.localbroker.fetch import KAFKA_VERSION, BrokerError, ensure_jars
from streams.devtools.localbroker.server import (
    BrokerStatus,
    add_scram_users,
    admin_settings,
    ca_location,
    issue_client_certificate,
    start,
    status,
    stop,
    wait_until_serving,
)
from streams.devtools.localbroker.tls import ClientCertificate

__all__ = [
    "CONNECT_STANDALONE_MAIN",
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "ClientCertificate",
    "add_scram_users",
    "admin_settings",
    "ca_location",
    "ensure_connect_jars",
    "ensure_jars",
    "issue_client_certificate",
    "start",
    "status",
    "stop",
    "wait_until_serving",
]
