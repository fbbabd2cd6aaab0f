"""The ACL plan (no broker), the access section's validation, and the clients' SASL login."""

from __future__ import annotations

import ssl

import faust
import pytest
from faust.types.auth import AuthProtocol, SASLMechanism

from streams.config import ConfigError, GatewayConfig, KafkaSecurity, load_config, parse_config
from streams.kafka.access import CLUSTER, Grant, plan_grants
from streams.kafka.clients import KafkaLoginMissing, admin_settings, client_security, consumer_settings
from streams.service.worker import broker_credentials

SECURED = """
policy_version: test-1
kafka:
  group_id: rg
  security: {protocol: SASL_PLAINTEXT}
regions:
  eu: {countries: [EU27], topic: t.eu, transfers: {global: pseudonymized}}
  us: {countries: [US], topic: t.us, transfers: {global: pseudonymized}}
  row: {countries: "*", topic: t.row}
topics: {ingest: [t.ingest, t.partner]}
access:
  acls: true
  gateway_principal: "User:gateway"
  collector_principals: ["User:collector"]
  regions:
    eu: {consumer_principals: ["User:eu-tools", "User:eu-warehouse"]}
    us: {consumer_principals: ["User:us-tools"], group_prefix: us.}
"""


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return parse_config(SECURED)


def grants_of(config: GatewayConfig, principal: str) -> set[tuple[str, str, str, str]]:
    return {
        (g.resource, g.name, g.operation, g.pattern) for g in plan_grants(config) if g.principal == principal
    }


def test_a_region_reader_reads_its_own_topic_and_groups_and_nothing_else(config: GatewayConfig) -> None:
    assert grants_of(config, "User:eu-tools") == {
        ("topic", "t.eu", "read", "literal"),
        ("topic", "t.eu", "describe", "literal"),
        ("group", "eu-", "read", "prefixed"),
    }
    assert grants_of(config, "User:us-tools") == {
        ("topic", "t.us", "read", "literal"),
        ("topic", "t.us", "describe", "literal"),
        ("group", "us.", "read", "prefixed"),
    }


def test_no_principal_but_the_gateway_touches_two_regions_topics(config: GatewayConfig) -> None:
    regional = {region.topic for region in config.regions.values()}
    for principal in {g.principal for g in plan_grants(config)} - {"User:gateway"}:
        topics = {name for resource, name, _, _ in grants_of(config, principal) if resource == "topic"}
        assert len(topics & regional) <= 1, principal


def test_the_gateway_reads_its_inputs_what_replay_reads_and_fausts_own_topics_only(
    config: GatewayConfig,
) -> None:
    subject_keys = {"t.eu.subject-keys", "t.us.subject-keys", "t.row.subject-keys"}
    read = {n for r, n, op, _ in grants_of(config, "User:gateway") if r == "topic" and op == "read"}
    inputs = {"t.ingest", "t.partner", "events.erasure", *subject_keys, "rg-worker-"}
    # `replay` runs as the gateway: the held records, and its ledger of what it released.
    replayed = {"events.quarantine", "events.dead-letter", "rg-replay-released"}
    assert read == inputs | replayed | {"rg-policy"}  # and the policies an admin publishes
    assert not read & {region.topic for region in config.regions.values()}  # never a region's events


def test_the_gateway_writes_every_output_topic_and_no_input(config: GatewayConfig) -> None:
    written = {n for r, n, op, _ in grants_of(config, "User:gateway") if r == "topic" and op == "write"}
    outputs = {"t.eu", "t.us", "t.row", "events.global", "events.quarantine", "events.dead-letter"}
    assert written == outputs | {
        "events.audit",
        "t.eu.subject-keys",
        "t.us.subject-keys",
        "t.row.subject-keys",
        "rg-replay-released",
    }
    assert not written & {"t.ingest", "t.partner", "events.erasure"}


def test_the_gateway_transacts_under_its_group_prefix_and_creates_nothing(config: GatewayConfig) -> None:
    own = grants_of(config, "User:gateway")
    assert ("transactional_id", "rg-", "write", "prefixed") in own
    assert ("cluster", CLUSTER, "idempotent_write", "literal") in own
    assert ("group", "rg", "read", "literal") in own
    assert ("group", "rg-", "read", "prefixed") in own
    assert {op for _, _, op, _ in own} == {"read", "write", "create", "idempotent_write"}  # no alter, delete
    # It creates only faust's own topics, never one of the config's.
    assert {(r, n, p) for r, n, op, p in own if op == "create"} == {("topic", "rg-worker-", "prefixed")}


def test_the_faust_worker_creates_and_reads_its_own_topics_and_writes_none(config: GatewayConfig) -> None:
    faust_topics = {(op, p) for r, n, op, p in grants_of(config, "User:gateway") if n == "rg-worker-"}
    assert faust_topics == {("create", "prefixed"), ("read", "prefixed")}
    assert config.kafka.worker_app_id == "rg-worker"  # its group, rg-worker, is under rg-*


def test_no_topic_of_the_config_may_sit_under_the_faust_workers_prefix() -> None:
    problems = problems_of(SECURED.replace("topic: t.eu,", "topic: rg-worker-eu,"))
    assert any(
        p.startswith(
            "regions.eu.topic: 'rg-worker-eu' is under rg-worker-*, the prefix of the faust worker's"
        )
        for p in problems
    )


def test_collectors_write_the_ingest_topics_only(config: GatewayConfig) -> None:
    assert grants_of(config, "User:collector") == {
        ("topic", "t.ingest", "write", "literal"),
        ("topic", "t.partner", "write", "literal"),
    }


def test_the_plan_is_stable_and_has_no_duplicates(config: GatewayConfig) -> None:
    plan = plan_grants(config)
    assert plan == plan_grants(parse_config(SECURED))
    assert len(plan) == len(set(plan))
    assert str(Grant("User:x", "group", "eu-", "read", "prefixed")) == "User:x READ group eu-*"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def with_access(access: str, protocol: str = "SASL_PLAINTEXT") -> str:
    base = SECURED.split("access:")[0].replace("SASL_PLAINTEXT", protocol)
    return base + "access:\n" + access


def test_principals_must_be_users_without_wildcards() -> None:
    problems = problems_of(
        with_access('  gateway_principal: gateway\n  collector_principals: ["User:*"]\n  colour: red\n')
    )
    assert any(p.startswith("access.gateway_principal: 'gateway' is not a Kafka principal") for p in problems)
    assert any(
        p.startswith("access.collector_principals[0]: 'User:*' is not a Kafka principal") for p in problems
    )
    assert "access.colour: unknown key" in problems


def test_one_principal_one_role_and_regions_must_exist() -> None:
    problems = problems_of(
        with_access(
            "  regions:\n"
            '    eu: {consumer_principals: ["User:tools"]}\n'
            '    us: {consumer_principals: ["User:tools", "User:residency-gateway"]}\n'
            '    mars: {consumer_principals: ["User:martian"]}\n'
        )
    )
    assert any(p.startswith("access.regions.mars: no region named 'mars'") for p in problems)
    assert any(
        p.startswith("access.regions.us.consumer_principals[0]: User:tools already has a role")
        for p in problems
    )
    assert any(
        p.startswith("access.regions.us.consumer_principals[1]: User:residency-gateway") for p in problems
    )


def test_group_prefixes_may_not_overlap_each_other_or_the_gateways() -> None:
    problems = problems_of(
        with_access(
            "  regions:\n"
            '    eu: {consumer_principals: ["User:eu"], group_prefix: tools}\n'
            '    us: {consumer_principals: ["User:us"], group_prefix: tools.us}\n'
            '    row: {consumer_principals: ["User:row"], group_prefix: r}\n'
        )
    )
    assert any(
        p.startswith("access.regions.us.group_prefix: 'tools.us' overlaps region eu's") for p in problems
    )
    assert any(p.startswith("access.regions.row.group_prefix: 'r' overlaps the gateway's") for p in problems)


def test_acls_on_a_plaintext_listener_are_refused() -> None:
    problems = problems_of(with_access("  acls: true\n", protocol="PLAINTEXT"))
    assert any(p.startswith("access.acls: ACLs need authenticated clients") for p in problems)


def test_a_password_in_the_clear_is_refused() -> None:
    problems = problems_of(
        with_access("  acls: true\n").replace(
            "protocol: SASL_PLAINTEXT", "protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN"
        )
    )
    assert any(p.startswith("kafka.security.sasl_mechanism: PLAIN over SASL_PLAINTEXT") for p in problems)


def test_the_shipped_policy_leaves_acls_and_logins_alone() -> None:
    config = load_config(None)
    assert config.access.acls is False
    assert client_security(config.kafka.security) == {}
    assert admin_settings("b:1", config.kafka.security) == {"bootstrap.servers": "b:1"}


def test_logins_come_from_the_environment_variables_the_config_names(
    config: GatewayConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_USERNAME", "gateway")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_PASSWORD", "gateway-secret")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_ADMIN_USERNAME", "admin")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_ADMIN_PASSWORD", "admin-secret")
    consumer = consumer_settings(config.kafka, "b:1")
    assert {k: consumer[k] for k in ("security.protocol", "sasl.mechanism", "sasl.username")} == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "gateway",
    }
    assert consumer["sasl.password"] == "gateway-secret"
    assert admin_settings("b:1", config.kafka.security)["sasl.username"] == "admin"
    assert admin_settings("b:1", config.kafka.security, as_admin=False)["sasl.username"] == "gateway"


def test_an_unset_login_variable_is_named_and_no_secret_sits_in_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RESIDENCY_GATEWAY_KAFKA_PASSWORD", raising=False)
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_USERNAME", "gateway")
    with pytest.raises(KafkaLoginMissing, match="set RESIDENCY_GATEWAY_KAFKA_PASSWORD to the gateway's"):
        client_security(KafkaSecurity(protocol="SASL_SSL"))
    assert "password" not in KafkaSecurity.model_fields  # only the names of variables


def test_faust_logs_in_with_the_same_login_as_the_engine(
    config: GatewayConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_USERNAME", "gateway")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_PASSWORD", "gateway-secret")
    credentials = broker_credentials(client_security(config.kafka.security))
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("gateway", "gateway-secret")
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_512
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT and credentials.ssl_context is None
    assert "gateway-secret" not in repr(credentials)  # faust logs its settings


def test_faust_verifies_tls_on_sasl_ssl_and_needs_no_login_on_plaintext(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_USERNAME", "gateway")
    monkeypatch.setenv("RESIDENCY_GATEWAY_KAFKA_PASSWORD", "gateway-secret")
    security = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256")
    credentials = broker_credentials(client_security(security))
    assert credentials is not None and credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_256
    context = credentials.ssl_context
    assert context is not None and context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert broker_credentials(client_security(KafkaSecurity())) is None
