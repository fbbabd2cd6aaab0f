"""librdkafka settings for the gateway's consumer and producer, derived from the config."""

from __future__ import annotations

from typing import Any

from streams.config import KafkaSettings


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
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65536,
    }


def producer_settings(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    durable = kafka.acks == "all"
    return {
        "bootstrap.servers": bootstrap,
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
    }


def admin_settings(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap}
