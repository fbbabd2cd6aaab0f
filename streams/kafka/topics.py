"""Create the topics a config implies, with its partitions, replication and min.insync.replicas."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.config import GatewayConfig
from streams.kafka.clients import admin_settings


@dataclass(frozen=True)
class TopicPlan:
    created: list[str]
    existing: list[str]


def apply_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> TopicPlan:
    """Create every missing topic; existing topics are left as they are."""
    admin = AdminClient(admin_settings(bootstrap))
    present = set(admin.list_topics(timeout=timeout).topics)
    wanted = list(dict.fromkeys(config.all_topics()))
    missing = [t for t in wanted if t not in present]
    kafka = config.kafka
    new = [
        NewTopic(
            topic,
            num_partitions=kafka.partitions,
            replication_factor=kafka.replication_factor,
            config={
                "min.insync.replicas": str(kafka.min_insync_replicas),
                "unclean.leader.election.enable": "false",
            },
        )
        for topic in missing
    ]
    created = []
    for topic, future in admin.create_topics(new, request_timeout=timeout).items() if new else []:
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker won the race
                raise
    return TopicPlan(created=created, existing=[t for t in wanted if t in present])


def missing_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> list[str]:
    admin = AdminClient(admin_settings(bootstrap))
    present = set(admin.list_topics(timeout=timeout).topics)
    return [t for t in dict.fromkeys(config.all_topics()) if t not in present]
