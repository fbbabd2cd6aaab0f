"""`topics apply`: create the topics a config implies, or bring existing ones in line with it."""

from __future__ import annotations

import logging

import click

from streams.cli.common import CONFIG_HELP, config_or_fail, fail

log = logging.getLogger(__name__)


@click.group()
def topics() -> None:
    """The topics a config implies."""


@topics.command("apply")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
def topics_apply(config_path: str | None, bootstrap: str | None) -> None:
    """Create every missing topic (ingest, regions, global, quarantine, dead letters), bring existing
    ones to the config's partitions (up only), retention and min.insync.replicas, and grant the ACLs
    the config's access section implies (docs/access.md). Prints every change; a second run changes
    nothing."""
    from confluent_kafka import KafkaException

    from streams.kafka.clients import KafkaLoginMissing
    from streams.kafka.topics import apply_topics

    config = config_or_fail(config_path)
    try:
        plan = apply_topics(config, bootstrap or config.kafka.bootstrap_servers)
    except KafkaLoginMissing as error:
        fail(str(error))
    except (KafkaException, TimeoutError) as error:
        fail(f"can't apply topics: {error}", code=1)
    # A topic on a region's own cluster says so: where that region's data lands is the point.
    where = {topic: f" (on {cluster})" for topic, cluster in plan.clusters.items()}
    for topic in plan.created:
        click.echo(f"created  {topic}{where.get(topic, '')}")
    changed = {change.topic for change in plan.updated}
    for topic in plan.existing:
        if topic not in changed:
            click.echo(f"exists   {topic}{where.get(topic, '')}")
    for change in plan.updated:
        click.echo(f"updated  {change}{where.get(change.topic, '')}")
    for difference in plan.kept:
        click.echo(f"kept     {difference}")
    if plan.created or plan.updated:
        click.echo(f"topics   {len(plan.created)} created, {len(plan.updated)} settings updated")
    else:
        click.echo(f"topics   nothing changed: all {len(plan.existing)} as configured")
    if plan.acls is None:
        click.echo("acls     not managed (access.acls: false)")
        return
    for grant in plan.acls.granted:
        click.echo(f"granted  {grant}  ({grant.why})")
    for extra in plan.acls.extra:
        click.echo(f"extra    {extra}: not in the plan, left in place")
    granted, kept = len(plan.acls.granted), len(plan.acls.unchanged)
    click.echo(
        f"acls     {granted} granted, {kept} already in place"
        if granted
        else f"acls     nothing changed: all {kept} already in place"
    )
