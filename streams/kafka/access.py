"""Who may do what on the gateway's topics: the ACLs a config implies, as plain data (no broker).

Every grant is an ALLOW for one principal on one resource; with the broker's
`allow.everyone.if.no.acl.found=false` nothing else is allowed. docs/access.md
explains each grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from streams.config import GatewayConfig

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Operation = Literal["read", "write", "describe", "create", "idempotent_write"]
Pattern = Literal["literal", "prefixed"]
CLUSTER = "kafka-cluster"  # the one name Kafka gives the cluster resource


@dataclass(frozen=True, order=True)
class Grant:
    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"
    why: str = field(default="", compare=False)

    def __str__(self) -> str:
        name = f"{self.name}*" if self.pattern == "prefixed" else self.name
        return f"{self.principal} {self.operation.upper()} {self.resource} {name}"


def plan_grants(config: GatewayConfig) -> list[Grant]:
    """Every ACL the config implies, gateway first, then collectors, then each region's readers."""
    return _unique([*_gateway(config), *_collectors(config), *_region_readers(config)])


def _gateway(config: GatewayConfig) -> list[Grant]:
    gateway = config.access.gateway_principal
    topics = config.topics
    group = config.kafka.group_id
    faust_topics = f"{config.kafka.worker_app_id}-"

    def grant(
        resource: Resource, name: str, operation: Operation, why: str, pattern: Pattern = "literal"
    ) -> Grant:
        return Grant(gateway, resource, name, operation, pattern, why)

    subject_topics = [config.subject_keys_topic(region) for region in config.regions]
    return [
        *(grant("topic", topic, "read", "consumes the ingest topic") for topic in topics.ingest),
        grant("topic", topics.erasure, "read", "consumes erasure requests"),
        *(
            grant("topic", r.topic, "write", "writes each region's full events")
            for r in config.regions.values()
        ),
        *(
            grant("topic", d.topic, "write", "writes copies to a destination")
            for d in config.destinations.values()
        ),
        grant("topic", topics.quarantine, "write", "quarantines undecided events"),
        grant("topic", topics.dead_letter, "write", "dead-letters what it can't process"),
        grant("topic", topics.audit, "write", "writes one audit record per event"),
        *(grant("topic", t, "write", "stores subject keys and erasures") for t in subject_topics),
        *(grant("topic", t, "read", "restores subject keys and erasures") for t in subject_topics),
        # `replay` (streams/kafka/replay.py) runs as the gateway: it reads what was held, and reads
        # and writes the ledger of what it released.
        grant("topic", topics.quarantine, "read", "replays quarantined events"),
        grant("topic", topics.dead_letter, "read", "replays dead letters"),
        grant("topic", f"{group}-replay-released", "read", "reads the replay ledger"),
        grant("topic", f"{group}-replay-released", "write", "writes the replay ledger"),
        # Every worker follows the policy topic; only an admin publishes there (`policy publish`).
        grant("topic", f"{group}-policy", "read", "takes published policies"),
        grant("group", group, "read", "commits its input offsets"),
        # faust's worker declares and consumes its own topics, named <app id>-... (<app id> is
        # <group_id>-worker): at least its leader-assignor topic, <app id>-__assignor-__leader.
        # config checks refuse any of the config's topics under this prefix.
        grant("topic", faust_topics, "create", "faust's worker creates its own topics", "prefixed"),
        grant("topic", faust_topics, "read", "faust's worker consumes its own topics", "prefixed"),
        # The subject store's reader (<group_id>-subjects-<random>) and faust's (<group_id>-worker).
        grant("group", f"{group}-", "read", "names its other readers' groups", "prefixed"),
        # Transactional ids are <group_id>-<worker id> (streams.kafka.clients.transactional_id).
        grant("transactional_id", f"{group}-", "write", "writes in Kafka transactions", "prefixed"),
        grant("cluster", CLUSTER, "idempotent_write", "produces idempotently"),
    ]


def _collectors(config: GatewayConfig) -> list[Grant]:
    return [
        Grant(principal, "topic", topic, "write", "literal", "writes raw events to ingest")
        for principal in config.access.collector_principals
        for topic in config.topics.ingest
    ]


def _region_readers(config: GatewayConfig) -> list[Grant]:
    access = config.access
    grants: list[Grant] = []
    for region, readers in access.regions.items():
        topic = config.regions[region].topic
        prefix = access.group_prefix(region)
        for principal in readers.consumer_principals:
            grants += [
                Grant(principal, "topic", topic, "read", "literal", f"reads region {region}'s events"),
                Grant(
                    principal, "topic", topic, "describe", "literal", f"finds region {region}'s partitions"
                ),
                Grant(principal, "group", prefix, "read", "prefixed", f"commits offsets in {prefix}* groups"),
            ]
    return grants


def _unique(grants: list[Grant]) -> list[Grant]:
    return list(dict.fromkeys(grants))
