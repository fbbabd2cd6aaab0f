"""A real single-node Apache Kafka broker for laptops and CI, fetched through Maven: no Docker."""

from streams.localbroker.fetch import KAFKA_VERSION, BrokerError, ensure_jars
from streams.localbroker.server import (
    BrokerStatus,
    add_scram_users,
    admin_settings,
    start,
    status,
    stop,
    wait_until_serving,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerStatus",
    "add_scram_users",
    "admin_settings",
    "ensure_jars",
    "start",
    "status",
    "stop",
    "wait_until_serving",
]
