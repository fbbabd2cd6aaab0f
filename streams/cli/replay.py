"""`replay`: release what the quarantine or dead-letter topic holds that the current policy can decide."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import click

from streams.cli.common import CONFIG_HELP, config_or_fail, fail

log = logging.getLogger(__name__)


def _timestamp_ms(value: str | None, flag: str) -> int | None:
    """An ISO 8601 time (a date, or a date and time; UTC unless it says otherwise) as Unix ms."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (2026-12-01 or 2026-12-01T08:00:00Z)",
                                 param_hint=flag) from None  # fmt: skip
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@click.command()
@click.option(
    "--from",
    "held_from",
    type=click.Choice(["quarantine", "dead-letter"]),
    required=True,
    help="The topic to release from: topics.quarantine or topics.dead_letter.",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option("--since", help="Only records held at or after this time (ISO 8601; UTC unless it says).")
@click.option("--until", help="Only records held at or before this time (ISO 8601; UTC unless it says).")
@click.option(
    "--dev-keys",
    is_flag=True,
    help="Use ephemeral development keys (pseudonyms then differ from the workers'): never in production.",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Held records per transaction.")  # fmt: skip
def replay(
    held_from: str,
    config_path: str | None,
    bootstrap: str | None,
    since: str | None,
    until: str | None,
    dev_keys: bool,
    batch_size: int,
) -> None:
    """Run held records through the current policy and release what it can now decide.

    Released events go where live traffic's would (home topic, copies, audit), each marked with
    the held record it came from; what is still undecidable stays held and is not written again.
    Exactly once: a ledger of released records is written in the same transactions, so running
    it again, or after a crash, releases nothing twice (docs/operations.md, "Changing the policy
    safely").
    """
    from confluent_kafka import KafkaException

    from streams.cli.run import keys_or_fail
    from streams.kafka.clients import KafkaLoginMissing
    from streams.kafka.replay import ReplayError, ReplayReport
    from streams.kafka.replay import replay as run_replay
    from streams.keys.ring import KeyUnavailable
    from streams.service.logs import configure

    configure("text", "warning")
    since_ms, until_ms = _timestamp_ms(since, "--since"), _timestamp_ms(until, "--until")
    config = config_or_fail(config_path)
    keys = keys_or_fail(config, dev_keys)

    def progress(report: ReplayReport, total: int) -> None:
        click.echo(
            f"replay: {report.examined} of {total} held records read, {report.released_records} released",
            err=True,
        )

    try:
        report = run_replay(
            config,
            bootstrap or config.kafka.bootstrap_servers,
            keys,
            held_from,
            since_ms=since_ms,
            until_ms=until_ms,
            batch_size=batch_size,
            progress=progress,
            # A one-shot job: an unreachable broker is one clear error, not librdkafka's log lines.
            client_settings={"log_level": 2},
        )
    except (KafkaLoginMissing, ReplayError) as error:
        fail(str(error))
    except KeyUnavailable as error:
        fail(
            f"a key the released events need is unavailable, nothing of this batch was written: {error}",
            code=1,
        )
    except (KafkaException, TimeoutError) as error:
        fail(f"replay stopped, nothing of its last batch was written: {error}", code=1)
    click.echo(f"replayed {report.examined} held records of {report.topic} in {report.seconds:.1f}s")
    click.echo(f"released {report.released_records} held records, {sum(report.released.values())} events")
    for region, count in sorted(report.released.items()):
        click.echo(f"  {region:<12} {count}")
    click.echo(f"held     {sum(report.still_held.values())} still undecidable, left where they are")
    for reason, count in sorted(report.still_held.items()):
        click.echo(f"  {reason:<40} {count}")
    click.echo(f"skipped  {report.already_released} released by an earlier replay")
    for reason, count in sorted(report.left_alone.items()):
        click.echo(f"skipped  {count} {reason}")
