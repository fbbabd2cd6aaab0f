"""The `residency-gateway` command line: run, explain, demo, check-config, broker, topics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

import click
import orjson

from streams import __version__
from streams.config import ConfigError, GatewayConfig, load_config
from streams.keys import KeyRing, KeyUnavailable, development_keys, env_var_name, keys_from_env
from streams.keysource import announce_development_keys, configured_or_development_keys
from streams.localbroker.server import BrokerStatus

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

DEFAULT_BROKER_PORT = 19092
_CONFIG_HELP = "Gateway config (YAML). Default: the policy shipped with the gateway (config/policy.yaml)."


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"residency-gateway: {message}", err=True)
    sys.exit(code)


def _config(path: str | None) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        _fail(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="residency-gateway")
def main() -> None:
    """Decide each tracking event's jurisdiction; keep full data in its home region."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option(
    "--dev-keys",
    is_flag=True,
    help="Use ephemeral development keys. Pseudonyms then differ on every start: never in production.",
)
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port of /health.")
@click.option("--web-host", default="127.0.0.1", show_default=True, help="Address /health listens on.")
@click.option("--log-level", default="info", show_default=True)
def run(
    config_path: str | None,
    bootstrap: str | None,
    dev_keys: bool,
    web_port: int,
    web_host: str,
    log_level: str,
) -> None:
    """Run the gateway: consume the ingest topics and route every event."""
    from faust import Worker

    from streams.kafka.clients import consumer_settings, producer_settings
    from streams.kafka.engine import GatewayEngine
    from streams.kafka.topics import missing_topics
    from streams.worker import build_app

    config = _config(config_path)
    keys = _run_keys(config, dev_keys)
    bootstrap = bootstrap or config.kafka.bootstrap_servers
    missing = missing_topics(config, bootstrap)
    if missing:
        _fail(
            f"topics missing on {bootstrap}: {', '.join(missing)}; "
            "create them with `residency-gateway topics apply`"
        )
    kafka = config.kafka
    engine = GatewayEngine(
        _pipeline(config, keys),
        consumer_settings(kafka, bootstrap),
        producer_settings(kafka, bootstrap),
        list(config.topics.ingest),
        batch_size=kafka.batch_size,
        poll_timeout=kafka.poll_timeout_ms / 1000,
    )
    app = build_app(f"{kafka.group_id}-worker", bootstrap, engine, web_port, web_host)
    Worker(app, loglevel=log_level, quiet=True).execute_from_commandline()


def _pipeline(config: GatewayConfig, keys: KeyRing) -> Pipeline:
    from streams.maxmind import GeolocationDatabaseError
    from streams.pipeline import Pipeline

    try:
        return Pipeline(config, keys)
    except GeolocationDatabaseError as error:
        _fail(f"jurisdiction.geolocation.database: {error}")


def _run_keys(config: GatewayConfig, dev_keys: bool) -> KeyRing:
    regions = config.exporting_regions()
    if dev_keys:
        announce_development_keys(regions)
        return development_keys(regions)
    try:
        return keys_from_env(regions, config.keys.env_prefix)
    except KeyUnavailable as error:
        names = ", ".join(env_var_name(config.keys.env_prefix, r) for r in regions)
        _fail(
            f"refusing to start without pseudonymization keys ({error}).\n"
            f'  Set {names} to "<version>:<base64 of 32+ random bytes>",\n'
            "  or pass --dev-keys to use ephemeral development keys (never in production)."
        )


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option(
    "--topic",
    help="Read the payloads as coming from this ingest topic, so a format pinned to it applies.",
)
@click.argument("input_file", metavar="[INPUT]", type=click.File("rb"), default="-")
def explain(config_path: str | None, topic: str | None, input_file: IO[bytes]) -> None:
    """Show the decision and outputs for raw ingest payloads, one per line; no broker needed."""
    from streams.explain import EXPLAIN_TOPIC, explain_lines

    config = _config(config_path)
    if topic is not None and topic not in config.topics.ingest:
        _fail(
            f"--topic {topic!r} is not one of the config's ingest topics ({', '.join(config.topics.ingest)})"
        )
    pipeline = _pipeline(config, _explain_keys(config))
    out = sys.stdout.buffer
    for result in explain_lines(pipeline, input_file, topic or EXPLAIN_TOPIC):
        out.write(orjson.dumps(result) + b"\n")
    out.flush()


def _explain_keys(config: GatewayConfig) -> KeyRing:
    try:
        return configured_or_development_keys(config)
    except KeyUnavailable as error:
        _fail(str(error))


@main.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate a config file and print every mistake with its path."""
    from streams.geolocation import geolocator_for
    from streams.maxmind import GeolocationDatabaseError

    try:
        config = load_config(config_file)
    except ConfigError as error:
        _fail(str(error), code=1)
    policy = config.jurisdiction
    try:
        geolocation = geolocator_for(policy.geolocation.database).source
    except GeolocationDatabaseError as error:
        _fail(str(ConfigError(config_file, [f"jurisdiction.geolocation.database: {error}"])), code=1)
    countries = config.country_regions()
    pinned = ", ".join(f"{topic}={name}" for topic, name in config.topics.ingest_formats.items())
    click.echo(
        f"{config_file}: ok (policy {config.policy_version}, {len(config.regions)} regions, "
        f"{len(countries)} countries assigned, global copy from {', '.join(config.exporting_regions())})\n"
        f"  signals, by precedence: {', '.join(policy.signals)}; on conflict: {policy.on_conflict}\n"
        f"  geolocation: {geolocation}\n"
        f"  ingest formats: {pinned or 'detected per payload'}"
    )


@main.command()
@click.option(
    "--events",
    "payload_count",
    type=int,
    default=3000,
    show_default=True,
    help="Ingest payloads to send (batches hold several events).",
)
@click.option(
    "--port",
    type=int,
    default=DEFAULT_BROKER_PORT,
    show_default=True,
    help="Port of the embedded local broker.",
)
@click.option(
    "--timeout",
    type=float,
    default=180.0,
    show_default=True,
    help="Seconds to wait for the gateway to process everything.",
)
def demo(payload_count: int, port: int, timeout: float) -> None:
    """Start the local broker, run the gateway, send realistic traffic and count every topic."""
    from confluent_kafka import KafkaException

    from streams.demo import DemoFailed, run_demo

    try:
        run_demo(payload_count=payload_count, port=port, timeout=timeout)
    except DemoFailed as error:
        _fail(str(error), code=1)
    except (KafkaException, TimeoutError) as error:
        _fail(f"Kafka failed during the demo: {error}", code=1)


@main.group()
def broker() -> None:
    """The embedded single-node Kafka broker (fetched through Maven, no Docker)."""


@broker.command("start")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_start(port: int) -> None:
    """Fetch Kafka if needed, start it on 127.0.0.1, wait until it serves (reuses a running one)."""
    from streams import localbroker

    try:
        status = localbroker.start(port=port)
    except localbroker.BrokerError as error:
        _fail(str(error), code=1)
    click.echo(_describe_broker(status))


@broker.command("stop")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_stop(port: int) -> None:
    """Stop the embedded broker started on this port."""
    from streams import localbroker

    stopped = localbroker.stop(port=port)
    click.echo(f"broker on port {port}: {'stopped' if stopped else 'was not running'}")


@broker.command("status")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_status(port: int) -> None:
    """Say whether the embedded broker runs; exit 1 if it doesn't."""
    from streams import localbroker

    status = localbroker.status(port=port)
    click.echo(_describe_broker(status))
    sys.exit(0 if status.running else 1)


def _describe_broker(status: BrokerStatus) -> str:
    parts = [f"Kafka {status.version} at {status.bootstrap}", "running" if status.running else "not running"]
    if status.pid:
        parts.append(f"pid {status.pid}")
    if status.running:
        parts.append(f"log {status.log_path}")
    return ", ".join(parts)


@main.group()
def topics() -> None:
    """The topics a config implies."""


@topics.command("apply")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
def topics_apply(config_path: str | None, bootstrap: str | None) -> None:
    """Create every missing topic (ingest, regions, global, quarantine, dead letters)."""
    from confluent_kafka import KafkaException

    from streams.kafka.topics import apply_topics

    config = _config(config_path)
    try:
        plan = apply_topics(config, bootstrap or config.kafka.bootstrap_servers)
    except (KafkaException, TimeoutError) as error:
        _fail(f"can't apply topics: {error}", code=1)
    for topic in plan.created:
        click.echo(f"created  {topic}")
    for topic in plan.existing:
        click.echo(f"exists   {topic}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=Path(sys.argv[0]).name)
