"""`shadow`: decide live traffic under a candidate policy beside the active one, and report the difference."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from streams.cli.common import CONFIG_HELP, config_or_fail, fail


@click.command()
@click.option(
    "--candidate",
    "candidate_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="The policy to try: decided beside the active one, it writes nothing.",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default="shadow-report.json",
    show_default=True,
    help="Where the report goes when shadowing stops.",
)
@click.option(
    "--from-beginning", is_flag=True, help="Start at the ingest topics' beginnings, not their ends."
)
@click.option(
    "--stop-at-end",
    is_flag=True,
    help="Stop once the topics' ends (as they were at start) are reached, instead of at SIGTERM.",
)
@click.option(
    "--web-port",
    type=click.IntRange(0, 65_535),
    default=0,
    show_default=True,
    help="Serve the counts on /metrics at this port; 0: no web server.",
)
def shadow(
    candidate_path: str,
    config_path: str | None,
    bootstrap: str | None,
    report_path: str,
    from_beginning: bool,
    stop_at_end: bool,
    web_port: int,
) -> None:
    """Decide every ingest event under the active policy and a candidate, and report what the
    candidate would change: moves between regions, newly quarantined and released events, copies that
    appear or disappear, newly exported fields. It reads in a group of its own and writes nothing;
    SIGTERM or Ctrl-C stops it and writes the report (ids and paths, never values)."""
    from confluent_kafka import KafkaException
    from prometheus_client import start_http_server

    from streams.cli.policy import configured_keys_or_fail
    from streams.cli.run import pipeline_or_fail
    from streams.formats.exact_json import write_json
    from streams.kafka.clients import KafkaLoginMissing
    from streams.kafka.shadow import Shadow, shadow_registry
    from streams.shadow import summary_lines

    active_config = config_or_fail(config_path)
    candidate_config = config_or_fail(candidate_path)
    if candidate_config.topics.ingest != active_config.topics.ingest:
        fail("--candidate reads other ingest topics than --config: shadowing compares the same traffic")
    # Keys shape values, never where events go or which fields leave; with the configured keys an
    # example id that is shown as its pseudonym is the one the audit topic holds. Without them,
    # development keys decide the same, and only such ids differ.
    active = pipeline_or_fail(active_config, configured_keys_or_fail(active_config))
    candidate = pipeline_or_fail(candidate_config, configured_keys_or_fail(candidate_config))
    try:
        runner = Shadow(
            active,
            candidate,
            bootstrap or active_config.kafka.bootstrap_servers,
            from_beginning=from_beginning,
        )
    except KafkaLoginMissing as error:
        fail(str(error))
    if web_port:
        start_http_server(web_port, addr="127.0.0.1", registry=shadow_registry(runner))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())

    def table(shadowing: Shadow) -> None:
        click.echo(f"shadow: {shadowing.payloads} payloads", err=True)
        for line in summary_lines(shadowing.report()):
            click.echo(f"  {line}", err=True)

    try:
        runner.run(stop, stop_at_end=stop_at_end, on_tick=table)
    except KafkaException as error:
        fail(f"shadowing stopped: {error}", code=1)
    finally:
        report = runner.report()
        Path(report_path).write_bytes(write_json(report) + b"\n")
    table(runner)
    click.echo(f"report: {report_path}")
