"""`policy publish`: validate a policy and write it to the policy topic, which every worker follows."""

from __future__ import annotations

from pathlib import Path

import click

from streams.cli.common import fail


@click.group("policy")
def policy_group() -> None:
    """Roll a policy out to every running worker (docs/operations.md, "Changing the policy safely")."""


@policy_group.command("publish")
@click.argument("policy_file", type=click.Path(dir_okay=False))
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides the policy's kafka.bootstrap_servers.")
def publish_command(policy_file: str, bootstrap: str | None) -> None:
    """Validate POLICY_FILE and publish it to `<group_id>-policy`. Each worker of the group checks it
    again, switches to it at its next batch boundary, or refuses it and keeps its policy (its /health
    and logs say why). Runs with the admin's login: the gateway itself may only read that topic."""
    from confluent_kafka import KafkaException

    from streams.cli.common import config_or_fail
    from streams.config import ConfigError, parse_config
    from streams.kafka.clients import KafkaLoginMissing, admin_settings, unknown_client_settings
    from streams.kafka.policy_topic import PolicyWatcher, policy_topic, publish
    from streams.rollout import runtime_differences

    config = config_or_fail(policy_file)  # a missing file is named here, with exit 2
    text = Path(policy_file).read_text()
    refused = unknown_client_settings(config.kafka)
    if refused:
        fail(str(ConfigError(policy_file, refused)))
    cluster = bootstrap or config.kafka.bootstrap_servers
    topic = policy_topic(config)
    try:
        settings = {
            **admin_settings(cluster, config.kafka.security),
            **config.kafka.client_settings.admin,
            # A one-shot command: a broker it can't reach is one clear error at the end, not a
            # librdkafka log line every 50 ms until then.
            "log_level": 2,
        }
        watcher = PolicyWatcher(settings, topic)
        try:
            if topic not in watcher.topics(timeout=30):
                fail(
                    f"topic {topic} is missing on {cluster}; create it with `residency-gateway topics apply`"
                )
            current = watcher.latest(timeout=60)
        finally:
            watcher.close()
        if current is not None:
            try:
                published = parse_config(current.text, source=f"{topic} offset {current.offset}")
            except ConfigError:
                published = None  # the workers refused it too: anything valid may replace it
            if published is not None:
                if published.policy_hash() == config.policy_hash():
                    click.echo(
                        f"{topic}: policy {config.policy_version} is published already (offset "
                        f"{current.offset}); nothing to do"
                    )
                    return
                differences = runtime_differences(published, config)
                if differences:
                    listed = "".join(f"\n  {problem}" for problem in differences)
                    fail(f"the workers would refuse {policy_file} (it changes what needs a restart):{listed}")
        offset = publish(settings, topic, text, config, timeout=30)
    except KafkaLoginMissing as error:
        fail(str(error))
    except (KafkaException, TimeoutError, RuntimeError) as error:
        fail(f"can't publish: {error}", code=1)
    click.echo(
        f"published policy {config.policy_version} ({config.policy_hash()}) to {topic} at offset {offset}"
    )
    click.echo(
        "each worker switches at its next batch boundary; watch residency_gateway_policy_info or `top`"
    )
