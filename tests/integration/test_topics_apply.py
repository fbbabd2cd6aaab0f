"""`topics apply` against the real broker: idempotent, and it brings existing topics to the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from streams.cli import main
from streams.kafka.topics import faust_leader_topic, policy_topic, replay_ledger_topic
from tests.integration.kafka_io import fresh_config

pytestmark = pytest.mark.integration


def _apply(config_path: Path) -> str:
    result = CliRunner().invoke(main, ["topics", "apply", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def _topic_config(bootstrap: str, topic: str, name: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return str(future.result()[name].value)


def _partitions(bootstrap: str, topic: str) -> int:
    return len(
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic].partitions
    )


def test_a_second_apply_changes_nothing_and_says_so(kafka_bootstrap: str, tmp_path: Path) -> None:
    config, text = fresh_config(kafka_bootstrap)  # the first apply: every topic created
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(text)
    again = _apply(config_path)
    assert "created  " not in again and "updated  " not in again and "kept     " not in again, again
    # Every topic of the config, the one faust's worker uses, the replay ledger and the policy topic.
    leader, ledger, policies = faust_leader_topic(config), replay_ledger_topic(config), policy_topic(config)
    assert f"topics   nothing changed: all {len(set(config.all_topics())) + 3} as configured" in again
    assert all(f"exists   {topic}" in again for topic in [*config.all_topics(), leader, ledger, policies])


def test_faust_s_topic_is_made_with_the_config_s_settings(kafka_bootstrap: str, tmp_path: Path) -> None:
    config, text = fresh_config(kafka_bootstrap)
    config_path = tmp_path / "policy.yaml"
    document = yaml.safe_load(text)
    document["kafka"] |= {"group_id": f"{config.kafka.group_id}-f", "retention_ms": 3600000}
    config_path.write_text(yaml.safe_dump(document))
    leader = f"{config.kafka.group_id}-f-worker-__assignor-__leader"
    applied = _apply(config_path)
    assert f"created  {leader}" in applied, applied
    assert _partitions(kafka_bootstrap, leader) == 1  # as faust makes it: one partition
    assert _topic_config(kafka_bootstrap, leader, "min.insync.replicas") == str(
        config.kafka.min_insync_replicas
    )
    # The broker's default is 7 days: this is the config's.
    assert _topic_config(kafka_bootstrap, leader, "retention.ms") == "3600000"


def test_a_changed_retention_and_more_partitions_are_applied_and_reported(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config, text = fresh_config(kafka_bootstrap)
    eu, keys = config.regions["eu"].topic, config.subject_keys_topic("eu")
    config_path = tmp_path / "policy.yaml"
    document = yaml.safe_load(text)
    document["kafka"] |= {"partitions": 3, "retention_ms": 3600000}
    config_path.write_text(yaml.safe_dump(document))

    applied = _apply(config_path)
    assert f"updated  {eu}: retention.ms 604800000 -> 3600000" in applied, applied
    assert f"updated  {eu}: partitions 2 -> 3" in applied
    # Compacted subject-key topics keep their own settings and partitions.
    assert f"updated  {keys}" not in applied
    assert f"kept     {keys}: 2 partitions, config says 3" in applied
    assert _topic_config(kafka_bootstrap, eu, "retention.ms") == "3600000"
    assert _partitions(kafka_bootstrap, eu) == 3 and _partitions(kafka_bootstrap, keys) == 2
    assert _topic_config(kafka_bootstrap, keys, "cleanup.policy") == "compact"

    again = _apply(config_path)
    assert "updated  " not in again and "created  " not in again, again
    assert "topics   nothing changed" in again
