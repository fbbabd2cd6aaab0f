"""Create the topics a config implies, or bring existing ones to its partitions, retention and
min.insync.replicas; idempotent, and every change is reported.

With `access.acls`, also grant the ACLs it implies (streams.kafka.access, streams.kafka.acls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from streams.config import GatewayConfig
from streams.kafka.access import plan_grants
from streams.kafka.acls import AclChanges, apply_acls
from streams.kafka.clients import admin_settings
from streams.kafka.subjects import subject_topic_config


@dataclass(frozen=True)
class TopicChange:
    """One setting of an existing topic that `apply_topics` changed."""

    topic: str
    setting: str  # "partitions", or a topic config such as "retention.ms"
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.setting} {self.before} -> {self.after}"


@dataclass(frozen=True)
class TopicPlan:
    created: list[str]
    existing: list[str]
    acls: AclChanges | None = None  # None: the config leaves ACLs alone (access.acls: false)
    updated: list[TopicChange] = field(default_factory=list)
    # Differences apply_topics can't or won't change, each with its reason, for a person to decide.
    kept: list[str] = field(default_factory=list)
    # Topic → bootstrap servers, for the topics on a region's cluster of its own (the rest are on
    # the main cluster), so what is printed says where each region's data lands.
    clusters: dict[str, str] = field(default_factory=dict)


def faust_leader_topic(config: GatewayConfig) -> str:
    """The one topic faust's worker uses: its leader assignor's, one partition (faust names it so).

    `topics apply` creates it with the config's replication factor and min.insync.replicas, as it
    does every other topic; a worker started without that (a development broker) has faust
    declare it, with the replication factor alone.
    """
    return f"{config.kafka.worker_app_id}-__assignor-__leader"


def replay_ledger_topic(config: GatewayConfig) -> str:
    """The compacted topic listing every held record a replay released (streams/kafka/replay.py)."""
    return f"{config.kafka.group_id}-replay-released"


def policy_topic(config: GatewayConfig) -> str:
    """The compacted topic `policy publish` writes and every worker follows (kafka/policy_topic.py)."""
    return f"{config.kafka.group_id}-policy"


def own_topics(config: GatewayConfig) -> list[str]:
    """The gateway's own topics on the main cluster, beside the config's: one partition each."""
    return [faust_leader_topic(config), replay_ledger_topic(config), policy_topic(config)]


def topic_partitions(config: GatewayConfig, topic: str) -> int:
    return 1 if topic in own_topics(config) else config.kafka.partitions


def topic_settings(config: GatewayConfig, topic: str) -> dict[str, str]:
    """The topic configs the gateway's config asks of `topic`."""
    kafka = config.kafka
    compacted = topic in {config.subject_keys_topic(region) for region in config.regions} or (
        topic in (replay_ledger_topic(config), policy_topic(config))
    )
    settings = {
        "min.insync.replicas": str(kafka.min_insync_replicas),
        "unclean.leader.election.enable": "false",
    }
    if compacted:
        # Subject keys and erasure markers (and the replay ledger, the policy): compacted, so erasure state is
        # kept for good and destroyed keys leave the log within a bounded time.
        settings |= subject_topic_config()
    elif kafka.retention_ms is not None:
        settings["retention.ms"] = str(kafka.retention_ms)
    return settings


def apply_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> TopicPlan:
    """Create every missing topic, bring existing ones to the config's partitions (up only) and
    topic settings, then grant the planned ACLs. A second run with the same config changes nothing."""
    clusters = config.topics_by_cluster(bootstrap)
    plan = _apply_on(
        AdminClient(
            {**admin_settings(bootstrap, config.kafka.security), **config.kafka.client_settings.admin}
        ),
        config,
        [*clusters.pop(bootstrap), *own_topics(config)],
        timeout,
    )
    # Regions on clusters of their own: their topic there, nothing else (ACLs there are the
    # regional cluster's operators' to manage).
    for remote, topics in clusters.items():
        admin = AdminClient(
            {**admin_settings(remote, config.kafka.security), **config.kafka.client_settings.admin}
        )
        regional = _apply_on(admin, config, topics, timeout, grant=False)
        plan.created.extend(regional.created)
        plan.existing.extend(regional.existing)
        plan.updated.extend(regional.updated)
        plan.kept.extend(regional.kept)
        plan.clusters.update(dict.fromkeys(topics, remote))
    return plan


def _apply_on(
    admin: AdminClient, config: GatewayConfig, wanted: list[str], timeout: float, grant: bool = True
) -> TopicPlan:
    present = set(admin.list_topics(timeout=timeout).topics)
    missing = [t for t in wanted if t not in present]
    existing = [t for t in wanted if t in present]
    kafka = config.kafka
    new = [
        NewTopic(
            topic,
            num_partitions=topic_partitions(config, topic),
            replication_factor=kafka.replication_factor,
            config=topic_settings(config, topic),
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
    updated, kept = _update_existing(admin, config, existing, timeout) if existing else ([], [])
    grown = sorted({change.topic for change in updated if change.setting == "partitions"})
    if created or grown:
        _wait_for_leaders(admin, [*created, *grown], timeout)
    acls = apply_acls(admin, plan_grants(config), timeout) if grant and config.access.acls else None
    return TopicPlan(created=created, existing=existing, acls=acls, updated=updated, kept=kept)


def _update_existing(
    admin: AdminClient, config: GatewayConfig, topics: list[str], timeout: float
) -> tuple[list[TopicChange], list[str]]:
    """Set the topic configs that differ from the config, and add partitions where it asks for more."""
    kafka = config.kafka
    metadata = admin.list_topics(timeout=timeout).topics
    compacted = {config.subject_keys_topic(region) for region in config.regions}
    changes: list[TopicChange] = []
    kept: list[str] = []
    described = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, t) for t in topics], request_timeout=timeout
    )
    alter = []
    for resource, future in described.items():
        current = {name: entry.value for name, entry in future.result().items()}
        topic = resource.name
        differ = [
            (name, value)
            for name, value in topic_settings(config, topic).items()
            if current.get(name) != value
        ]
        if differ:
            changes += [TopicChange(topic, name, str(current.get(name)), value) for name, value in differ]
            alter.append(
                ConfigResource(
                    ResourceType.TOPIC,
                    topic,
                    incremental_configs=[
                        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
                        for name, value in differ
                    ],
                )
            )
    for future in admin.incremental_alter_configs(alter, request_timeout=timeout).values() if alter else []:
        future.result()
    grow = []
    for topic in topics:
        partitions = metadata[topic].partitions
        count = len(partitions)
        replicas = len(partitions[min(partitions)].replicas) if partitions else kafka.replication_factor
        if replicas != kafka.replication_factor:
            kept.append(
                f"{topic}: replication factor {replicas}, config says {kafka.replication_factor} "
                "(changing it is a partition reassignment: kafka-reassign-partitions)"
            )
        wanted = topic_partitions(config, topic)
        if count > wanted:
            kept.append(f"{topic}: {count} partitions, config says {wanted} (Kafka can't remove any)")
        elif count < wanted and topic in compacted:
            # More partitions move keys: a subject's newer record could land beside an older one
            # in another partition, and compaction would keep both.
            kept.append(
                f"{topic}: {count} partitions, config says {wanted} "
                "(a compacted topic keeps its partitions: more would move its keys)"
            )
        elif count < wanted:
            grow.append(NewPartitions(topic, wanted))
            changes.append(TopicChange(topic, "partitions", str(count), str(wanted)))
    for future in admin.create_partitions(grow, request_timeout=timeout).values() if grow else []:
        future.result()
    return changes, kept


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    """Return once every partition of `topics` answers a ListOffsets request.

    Metadata names a leader a moment before that leader serves the partition
    (NOT_LEADER_FOR_PARTITION), so readiness is asked of the partition itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        problem = _first_unready(admin, topics, timeout)
        if problem is None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"created topics not ready after {timeout:.0f}s: {problem}")
        time.sleep(0.2)


def _first_unready(admin: AdminClient, topics: list[str], timeout: float) -> str | None:
    metadata = admin.list_topics(timeout=timeout).topics
    partitions = []
    for topic in topics:
        described = metadata.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return f"{topic} has no metadata yet"
        partitions += [TopicPartition(topic, p) for p in described.partitions]
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped in confluent-kafka
    futures = admin.list_offsets({tp: latest for tp in partitions}, request_timeout=timeout)
    for tp, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            return f"{tp.topic}[{tp.partition}]: {exc.args[0].name()}"
    return None


def missing_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> list[str]:
    # As the gateway: under ACLs it sees exactly the topics it was granted.
    missing = []
    for cluster, topics in config.topics_by_cluster(bootstrap).items():
        admin = AdminClient(
            {
                **admin_settings(cluster, config.kafka.security, as_admin=False),
                **config.kafka.client_settings.admin,
            }
        )
        present = set(admin.list_topics(timeout=timeout).topics)
        missing += [t if cluster == bootstrap else f"{t} (on {cluster})" for t in topics if t not in present]
    return missing


def _admin(config: GatewayConfig, cluster: str, *, as_admin: bool = True) -> AdminClient:
    """An admin client on `cluster`: the admin's login (or the gateway's), and kafka.client_settings.admin."""
    settings = admin_settings(cluster, config.kafka.security, as_admin=as_admin)
    return AdminClient({**settings, **config.kafka.client_settings.admin})
