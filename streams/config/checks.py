"""Rules that span a configuration's fields, which per-field validation can't see."""

from __future__ import annotations

from streams.config.countries import COUNTRY_GROUPS
from streams.config.schema import (
    DEFAULT_PURPOSES,
    FULL,
    NEVER_KEPT_ACROSS_BORDERS,
    REGION_NAME,
    REST_OF_WORLD,
    TRANSFORMS_BY_KIND,
    GatewayConfig,
    check_field_path,
)

# Client properties the gateway sets for its guarantees or takes from other settings: a passthrough
# map can't change them. The login (security.protocol, every sasl.* property, the CA and the client
# certificate) comes from kafka.security, which faust's client follows too; other ssl.* properties
# (cipher suites, endpoint identification) may pass through.
_OWNED_BY_EVERY_CLIENT = {"bootstrap.servers", "security.protocol", "ssl.ca.location", "ssl.ca.pem",
                          "ssl.certificate.location", "ssl.certificate.pem", "ssl.key.location",
                          "ssl.key.pem", "ssl.key.password", "ssl.keystore.location", "ssl.keystore.password",
                          "enable.sasl.oauthbearer.unsecure.jwt"}  # fmt: skip
_OWNED_PREFIX = "sasl."
OWNED_CLIENT_PROPERTIES = {
    "consumer": _OWNED_BY_EVERY_CLIENT | {
        "group.id", "group.instance.id", "enable.auto.commit", "enable.auto.offset.store", "isolation.level",
        "partition.assignment.strategy", "auto.offset.reset",
    },
    "producer": _OWNED_BY_EVERY_CLIENT | {
        "transactional.id", "enable.idempotence", "acks", "request.required.acks", "transaction.timeout.ms",
        "message.timeout.ms", "delivery.timeout.ms",
    },
    "admin": set(_OWNED_BY_EVERY_CLIENT),
}  # fmt: skip


def cross_checks(config: GatewayConfig) -> list[str]:
    """Rules that span fields, which per-field validation can't see."""
    problems: list[str] = []
    for role, owned in OWNED_CLIENT_PROPERTIES.items():
        for name in getattr(config.kafka.client_settings, role):
            if name in owned or name.startswith(_OWNED_PREFIX):
                problems.append(
                    f"kafka.client_settings.{role}.{name}: the gateway sets this itself "
                    "(its guarantees, or kafka.* and kafka.security settings)"
                )
    for route, topic in config.collect.topics.items():
        if topic not in config.topics.ingest:
            problems.append(
                f"collect.topics.{route}: {topic} is not one of topics.ingest, so no worker would read "
                "what the collector writes there"
            )
    owner: dict[str, str] = {}
    rest_of_world: list[str] = []
    for name, region in config.regions.items():
        if not REGION_NAME.match(name) or name in config.destinations:
            problems.append(
                f"regions.{name}: region names are lowercase identifiers, and destination names "
                f"({', '.join(config.destinations)}) are taken"
            )
        if region.countries == REST_OF_WORLD:
            rest_of_world.append(name)
            continue
        for index, code in enumerate(region.countries):
            for country in sorted(COUNTRY_GROUPS.get(code, {code})):
                if country in owner and owner[country] != name:
                    problems.append(
                        f"regions.{name}.countries[{index}]: {country!r} already belongs "
                        f"to region {owner[country]!r}"
                    )
                owner[country] = name
    if len(rest_of_world) > 1:
        problems.append(
            f"regions: only one region may claim the rest of the world ('*'), "
            f"found {', '.join(rest_of_world)}"
        )
    for name, region in config.regions.items():
        remote = region.bootstrap_servers not in (None, config.kafka.bootstrap_servers)
        if remote and config.kafka.delivery == "exactly_once":
            problems.append(
                f"regions.{name}.bootstrap_servers: a region on a cluster of its own needs "
                "kafka.delivery: at_least_once (a Kafka transaction can't span clusters)"
            )
    if config.kafka.delivery == "exactly_once" and config.kafka.acks != "all":
        problems.append("kafka.acks: exactly_once delivery needs acks: all (Kafka transactions require it)")
    seen: dict[str, str] = {}
    for path, topic in _topic_paths(config):
        if topic in seen:
            problems.append(f"{path}: topic {topic!r} is already used by {seen[topic]}")
        seen.setdefault(topic, path)
    for topic, format_name in config.topics.ingest_formats.items():
        if topic not in config.topics.ingest:
            problems.append(f"topics.ingest_formats.{topic}: {topic!r} is not one of topics.ingest")
        if format_name == "generic" and config.formats.generic is None:
            problems.append(
                f"topics.ingest_formats.{topic}: the generic format needs formats.generic to name its fields"
            )
    if "generic" in config.jurisdiction.fields:
        problems.append("jurisdiction.fields.generic: name the generic format's fields under formats.generic")
    problems += _transfer_checks(config)
    problems += _access_checks(config)
    if config.kafka.min_insync_replicas > config.kafka.replication_factor:
        problems.append(
            f"kafka.min_insync_replicas: {config.kafka.min_insync_replicas} is more than "
            f"kafka.replication_factor ({config.kafka.replication_factor}); no write could succeed"
        )
    return problems


def _transfer_checks(config: GatewayConfig) -> list[str]:
    """Field rules exist, fit their kinds, and nothing personal leaves a region in the clear."""
    problems: list[str] = []
    rules = config.field_rules
    known_rules = ", ".join([FULL, *rules])
    if FULL in rules:
        problems.append(
            f"field_rules.{FULL}: {FULL!r} is built in (the event as it came) and can't be redefined"
        )
    for name, rule_set in rules.items():
        for kind, allowed in TRANSFORMS_BY_KIND.items():
            if kind == "path":
                continue
            transform = getattr(rule_set, kind)
            if transform not in allowed:
                problems.append(
                    f"field_rules.{name}.{kind}: {transform!r} does not apply to {kind.replace('_', ' ')} "
                    f"(choose from {', '.join(sorted(allowed))})"
                )
        for format_name, paths in rule_set.paths.items():
            for path, transform in paths.items():
                where = f"field_rules.{name}.paths.{format_name}.{path}"
                if transform not in TRANSFORMS_BY_KIND["path"]:
                    problems.append(
                        f"{where}: {transform!r} needs a kind of field; choose keep, drop, "
                        "pseudonymize or tokenize"
                    )
                try:
                    check_field_path(path)
                except ValueError as error:
                    problems.append(f"{where}: {error}")
    for region_name, region in config.regions.items():
        if region.home != FULL and region.home not in rules:
            problems.append(
                f"regions.{region_name}.home: no field rules named {region.home!r} ({known_rules})"
            )
        for destination, rule_name in region.transfers.items():
            where = f"regions.{region_name}.transfers.{destination}"
            if destination not in config.destinations:
                problems.append(
                    f"{where}: no destination named {destination!r} "
                    f"(destinations: {', '.join(config.destinations)})"
                )
            if rule_name == FULL:
                problems.append(
                    f"{where}: the full event never leaves its home topic; name field rules "
                    "that pseudonymize it"
                )
                continue
            copy_rules = rules.get(rule_name)
            if copy_rules is None:
                problems.append(f"{where}: no field rules named {rule_name!r} ({known_rules})")
                continue
            kept = [kind for kind in NEVER_KEPT_ACROSS_BORDERS if getattr(copy_rules, kind) == "keep"]
            kept += [
                f"{f}.{path}"
                for f, paths in copy_rules.paths.items()
                for path, t in paths.items()
                if t == "keep"
            ]
            if kept:
                problems.append(
                    f"{where}: field rules {rule_name!r} keep {', '.join(kept)} in the clear; only "
                    "pseudonymized, tokenized, generalized or dropped personal data may leave a region"
                )
    erasure_rules = config.erasure.rules
    if erasure_rules not in rules:
        problems.append(f"erasure.rules: no field rules named {erasure_rules!r} ({known_rules})")
    elif config.erasure.after == "pseudonymize":
        rule_set = rules[erasure_rules]
        unsafe = [
            kind for kind in NEVER_KEPT_ACROSS_BORDERS if getattr(rule_set, kind) in {"keep", "tokenize"}
        ]
        if unsafe:
            problems.append(
                f"erasure.rules: field rules {erasure_rules!r} keep or tokenize {', '.join(unsafe)}; "
                "an erased subject's later events must be fully pseudonymized"
            )
    purposes = config.consent.purposes if config.consent.purposes is not None else DEFAULT_PURPOSES
    for name, target in config.destinations.items():
        if not REGION_NAME.match(name):
            problems.append(f"destinations.{name}: destination names are lowercase identifiers")
        if target.purpose is not None and target.purpose not in purposes:
            problems.append(
                f"destinations.{name}.purpose: {target.purpose!r} is not one of the consent purposes "
                f"({', '.join(purposes)})"
            )
    return problems


def _topic_paths(config: GatewayConfig) -> list[tuple[str, str]]:
    """Every topic the config uses, with the path that names it."""
    named = [(f"topics.ingest[{i}]", t) for i, t in enumerate(config.topics.ingest)]
    named += [(f"destinations.{name}.topic", d.topic) for name, d in config.destinations.items()]
    named += [
        ("topics.quarantine", config.topics.quarantine),
        ("topics.dead_letter", config.topics.dead_letter),
        ("topics.audit", config.topics.audit),
        ("topics.erasure", config.topics.erasure),
    ]
    named += [(f"regions.{name}.topic", r.topic) for name, r in config.regions.items()]
    named += [
        (f"regions.{name}.topic (subject keys)", config.subject_keys_topic(name)) for name in config.regions
    ]
    return named


def _access_checks(config: GatewayConfig) -> list[str]:
    """Principals name existing regions, each has one role, and no one's groups overlap another's."""
    access = config.access
    problems: list[str] = []
    security = config.kafka.security
    if security.protocol == "SASL_PLAINTEXT" and security.sasl_mechanism == "PLAIN":
        problems.append(
            "kafka.security.sasl_mechanism: PLAIN over SASL_PLAINTEXT sends the password in the clear; "
            "use SCRAM-SHA-512, or SASL_SSL"
        )
    if security.protocol == "SASL_PLAINTEXT" and security.sasl_mechanism == "OAUTHBEARER":
        problems.append(
            "kafka.security.sasl_mechanism: OAUTHBEARER over SASL_PLAINTEXT sends the bearer token in the "
            "clear, where anyone who sees it may use it until it expires; use SASL_SSL"
        )
    oauth = security.oauthbearer
    if oauth is not None and oauth.token_endpoint_url.startswith("http://"):
        host = oauth.token_endpoint_url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0]
        if host not in {"127.0.0.1", "localhost", "[::1]"}:
            problems.append(
                "kafka.security.oauthbearer.token_endpoint_url: http:// sends the client secret in the "
                "clear; use https:// (plain http is accepted only for a token endpoint on this machine)"
            )
    if access.acls and security.protocol == "PLAINTEXT":
        problems.append(
            "access.acls: ACLs need authenticated clients; on PLAINTEXT every client is User:ANONYMOUS "
            "(set kafka.security.protocol to SSL, SASL_PLAINTEXT or SASL_SSL)"
        )
    roles: dict[str, str] = {access.gateway_principal: "access.gateway_principal"}
    named = [(f"access.collector_principals[{i}]", p) for i, p in enumerate(access.collector_principals)]
    for region, readers in access.regions.items():
        if region not in config.regions:
            problems.append(
                f"access.regions.{region}: no region named {region!r} ({', '.join(config.regions)})"
            )
        named += [
            (f"access.regions.{region}.consumer_principals[{i}]", p)
            for i, p in enumerate(readers.consumer_principals)
        ]
    for path, principal in named:
        if principal in roles:
            problems.append(
                f"{path}: {principal} already has a role ({roles[principal]}); one principal, one role, "
                "so that nobody reads a region through another grant"
            )
        roles.setdefault(principal, path)
    # The gateway may create and read faust's topics (<app id>-*): none of the config's may be among them.
    faust_topics = f"{config.kafka.worker_app_id}-"
    if access.acls:
        problems += [
            f"{path}: {topic!r} is under {faust_topics}*, the prefix of the faust worker's own topics, "
            "which the gateway may create and read"
            for path, topic in _topic_paths(config)
            if topic.startswith(faust_topics)
        ]
    prefixes = {name: access.group_prefix(name) for name in access.regions if name in config.regions}
    group = config.kafka.group_id
    for region, prefix in prefixes.items():
        where = f"access.regions.{region}.group_prefix"
        if group.startswith(prefix) or prefix.startswith(group):
            problems.append(
                f"{where}: {prefix!r} overlaps the gateway's consumer groups ({group}, {group}-*)"
            )
        for other, other_prefix in prefixes.items():
            if other < region and (prefix.startswith(other_prefix) or other_prefix.startswith(prefix)):
                problems.append(
                    f"{where}: {prefix!r} overlaps region {other}'s {other_prefix!r}; "
                    "its readers could join the other region's groups"
                )
    return problems
