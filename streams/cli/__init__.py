"""The `residency-gateway` command line: run, explain, demo, check-config, broker, topics."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from streams import __version__
from streams.config import ConfigError, GatewayConfig, load_config
from streams.devtools.localbroker.server import BrokerStatus
from streams.keys.ring import KeyRing, KeyUnavailable, development_keys
from streams.keys.source import configured_or_development_keys, development_keys_notice
from streams.service.logs import FORMATS, active_format

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

DEFAULT_BROKER_PORT = 19092
SECURED_BROKER_PORT = 19094  # its controller listens on the next port, as the plain broker's does
_CONFIG_HELP = "Gateway config (YAML). Default: the policy shipped with the gateway (config/policy.yaml)."
log = logging.getLogger(__name__)


def _fail(message: str, code: int = 2) -> NoReturn:
    if active_format() == "json":  # `run` logs JSON: its last words too
        log.critical(message, extra={"exit_code": code})
    else:
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


def _default_worker_id() -> str:
    import socket

    return socket.gethostname()


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option(
    "--dev-keys",
    is_flag=True,
    help="Use ephemeral development keys. Pseudonyms then differ on every start: never in production.",
)
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port of /health and /metrics.")
@click.option(
    "--web-host", default="127.0.0.1", show_default=True, help="Address /health and /metrics listen on."
)
@click.option(
    "--worker-id",
    default=_default_worker_id,
    show_default="the host name",
    help="This worker's name in its group: stable across its restarts, distinct between workers "
    "(its transactional id is <group_id>-<worker id>).",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="json: one JSON object per line (time, level, logger, message, fields); text: one plain line.",
)
def run(
    config_path: str | None,
    bootstrap: str | None,
    dev_keys: bool,
    web_port: int,
    web_host: str,
    worker_id: str,
    log_level: str,
    log_format: str,
) -> None:
    """Run the gateway: consume the ingest topics and route every event."""
    from faust import Worker

    from streams.classify.maxmind import GeolocationDatabaseError
    from streams.kafka.lag import LagReader
    from streams.kafka.topics import missing_topics
    from streams.keys.providers import provider_for
    from streams.service.logs import configure, kafka_client_logger
    from streams.service.wiring import build_gateway
    from streams.service.worker import build_app

    logging_config = configure("json" if log_format == "json" else "text", log_level)
    config = _config(config_path)
    for warning in config.warnings():
        log.warning(warning)
    login = _gateway_login(config)
    keys = _run_keys(config, dev_keys)
    bootstrap = bootstrap or config.kafka.bootstrap_servers
    missing = missing_topics(config, bootstrap)
    if missing:
        _fail(
            f"topics missing on {bootstrap}: {', '.join(missing)}; "
            "create them with `residency-gateway topics apply`"
        )
    kafka = config.kafka
    # librdkafka's own log lines go through Python logging, in the same format as the rest.
    client_log = {"logger": kafka_client_logger()}
    try:
        gateway = build_gateway(
            config,
            bootstrap,
            keys,
            worker_id=worker_id,
            key_provider=None if dev_keys else provider_for(config.keys),  # development keys never change
            client_settings=client_log,
        )
    except GeolocationDatabaseError as error:
        _fail(f"jurisdiction.geolocation.database: {error}")
    engine = gateway.engine
    topic_regions = {region.topic: name for name, region in config.regions.items()}
    # The group's lag on what the engine consumes, for /metrics: an admin client of its own.
    lag = LagReader(
        {"bootstrap.servers": bootstrap, **login, **client_log},
        kafka.group_id,
        [*config.topics.ingest, config.topics.erasure],
    )
    app = build_app(
        kafka.worker_app_id, bootstrap, engine, topic_regions, web_port, web_host, login=login, lag=lag
    )
    log.info(
        "starting worker %s of group %s on %s",
        worker_id,
        kafka.group_id,
        bootstrap,
        extra={"worker_id": worker_id, "group_id": kafka.group_id, "ingest": list(config.topics.ingest)},
    )
    Worker(app, loglevel=log_level, quiet=True, logging_config=logging_config).execute_from_commandline()


def _gateway_login(config: GatewayConfig) -> dict[str, Any]:
    """The gateway's Kafka login settings; fails before anything starts if its variables are unset."""
    from streams.kafka.clients import KafkaLoginMissing, client_security

    try:
        return client_security(config.kafka.security)
    except KafkaLoginMissing as error:
        _fail(str(error))


def _pipeline(config: GatewayConfig, keys: KeyRing) -> Pipeline:
    from streams.classify.maxmind import GeolocationDatabaseError
    from streams.pipeline import Pipeline

    try:
        return Pipeline(config, keys)
    except GeolocationDatabaseError as error:
        _fail(f"jurisdiction.geolocation.database: {error}")


def _run_keys(config: GatewayConfig, dev_keys: bool) -> KeyRing:
    from streams.keys.providers import key_location, provider_for

    regions = config.key_regions()
    if dev_keys:
        log.warning(development_keys_notice(regions), extra={"regions": regions})
        return development_keys(regions)
    try:
        provider = provider_for(config.keys)
        ring = provider.load(regions)
    except KeyUnavailable as error:
        problems = "".join(f"\n  {problem}" for problem in error.problems)
        places = ", ".join(key_location(config.keys, r) for r in regions)
        _fail(
            f"refusing to start without pseudonymization keys:{problems}\n"
            f'  Put "<version>:<base64 of 32+ random bytes>" (`residency-gateway keys new`) in {places},\n'
            "  or pass --dev-keys to use ephemeral development keys (never in production)."
        )
    # Fingerprints, never keys: the log says which key versions this process pseudonymizes with.
    current = ", ".join(f"{r} v{ring.for_region(r).version} ({ring.fingerprint(r)})" for r in regions)
    log.info(
        "keys from %s: %s",
        provider.description,
        current or "none needed",
        extra={"key_versions": {r: ring.for_region(r).version for r in regions}},
    )
    return ring


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
    from streams.formats.exact_json import write_json

    config = _config(config_path)
    if topic is not None and topic not in config.topics.ingest:
        _fail(
            f"--topic {topic!r} is not one of the config's ingest topics ({', '.join(config.topics.ingest)})"
        )
    pipeline = _pipeline(config, _explain_keys(config))
    out = sys.stdout.buffer
    for result in explain_lines(pipeline, input_file, topic or EXPLAIN_TOPIC):
        out.write(write_json(result) + b"\n")  # exact: a user id past 64 bits prints its digits
    out.flush()


def _explain_keys(config: GatewayConfig) -> KeyRing:
    try:
        return configured_or_development_keys(config)
    except KeyUnavailable as error:
        listed = "".join(f"\n  {problem}" for problem in error.problems)
        _fail(f"pseudonymization keys are configured but can't be used:{listed}")


@main.command("allowlist")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--destination", help="The destination whose copies to show. Default: the config's first.")
@click.option("--format", "format_name", help="Only this collector format (segment, ga4, snowplow, ...).")
def allowlist(config_path: str | None, destination: str | None, format_name: str | None) -> None:
    """Print what a destination's copies keep, per collector format; everything else is dropped."""
    from streams.formats.detect import decoder_for
    from streams.transform.allowlist import table, with_keep_paths
    from streams.transform.identities import kept_key_kind

    config = _config(config_path)
    name = destination or next(iter(config.destinations))
    if name not in config.destinations:
        _fail(
            f"--destination {name!r} is not one of the config's destinations "
            f"({', '.join(config.destinations)})"
        )
    formats = decoder_for(config).formats
    if format_name is not None and format_name not in formats:
        _fail(f"--format {format_name!r} is not one of the config's formats ({', '.join(formats)})")
    target = config.destinations[name]
    keep = target.keep_paths()
    for collector in formats.values():
        if format_name is not None and collector.name != format_name:
            continue
        paths = [*keep.get("*", ()), *keep.get(collector.name, ())]
        compiled = with_keep_paths(collector.allowed, paths, kept_key_kind)
        click.echo(
            f"{collector.name} -> {name} ({target.topic}); every other field is "
            f"{'kept after the value scan' if target.unknown_fields == 'scan' else 'dropped'}\n"
        )
        click.echo(table(compiled.root) + "\n")


@main.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate a config file and print every mistake with its path."""
    from streams.classify.jurisdiction import geolocator_for
    from streams.classify.maxmind import GeolocationDatabaseError

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
    transfers = "; ".join(
        f"{name} -> {', '.join(f'{d} ({rules})' for d, rules in region.transfers.items()) or 'nowhere'}"
        for name, region in config.regions.items()
    )
    from streams.transform.export import keep_path_misfits

    warnings = [*config.warnings(), *keep_path_misfits(config)]
    click.echo(
        f"{config_file}: ok (policy {config.policy_version}, {config.policy_hash()}, "
        f"{len(config.regions)} regions, {len(countries)} countries assigned)\n"
        f"  signals, by precedence: {', '.join(policy.signals)}; on conflict: {policy.on_conflict}\n"
        f"  geolocation: {geolocation}\n"
        f"  ingest formats: {pinned or 'detected per payload'}\n"
        f"  copies: {transfers}"
    )
    for warning in warnings:
        click.echo(f"  warning: {warning}")


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

    from streams.devtools.demo import DemoFailed, run_demo

    try:
        run_demo(payload_count=payload_count, port=port, timeout=timeout)
    except DemoFailed as error:
        _fail(str(error), code=1)
    except (KafkaException, TimeoutError) as error:
        _fail(f"Kafka failed during the demo: {error}", code=1)


@main.command()
@click.option("--url", help="The running gateway's web address (its --web-host and --web-port).")
@click.option("--port", type=int, help="Shorthand for --url http://127.0.0.1:PORT. Default: 6066.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True)
@click.option("--once", is_flag=True, help="Print one frame (rates over one interval) and exit.")
def top(url: str | None, port: int | None, interval: float, once: bool) -> None:
    """A live view of a running gateway from its /metrics: rates per region topic, quarantine and
    dead letters, records in, held batches and consumer lag."""
    from streams.cli.top import ScrapeFailed, endpoints, watch

    if url is not None and port is not None:
        _fail("give --url or --port, not both")
    metrics_url, health_url = endpoints(url, port)
    try:
        watch(metrics_url, health_url, sys.stdout, interval=interval, once=once, clear=sys.stdout.isatty())
    except ScrapeFailed as error:
        _fail(f"can't read the gateway's metrics: {error}", code=1)
    except KeyboardInterrupt:
        pass


@main.group()
def broker() -> None:
    """The embedded single-node Kafka broker (fetched through Maven, no Docker)."""


@broker.command("start")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
@click.option(
    "--secure",
    is_flag=True,
    help="SASL_PLAINTEXT with SCRAM-SHA-512 and ACLs (StandardAuthorizer, deny when no ACL matches); "
    f"use another port than the plain broker's, e.g. {SECURED_BROKER_PORT}.",
)
def broker_start(port: int, secure: bool) -> None:
    """Fetch Kafka if needed, start it on 127.0.0.1, wait until it serves (reuses a running one)."""
    from streams.devtools import localbroker

    try:
        status = localbroker.start(port=port, secure=secure)
    except localbroker.BrokerError as error:
        _fail(str(error), code=1)
    click.echo(_describe_broker(status))


@broker.command("user")
@click.argument("username")
@click.option("--port", type=int, default=SECURED_BROKER_PORT, show_default=True)
@click.password_option(
    "--password",
    prompt="Password",
    envvar="RESIDENCY_GATEWAY_BROKER_USER_PASSWORD",
    help="Read from a prompt or RESIDENCY_GATEWAY_BROKER_USER_PASSWORD; never put it on the command line.",
)
def broker_user(username: str, port: int, password: str) -> None:
    """Create or replace a SCRAM-SHA-512 user on the secured broker (its principal is User:USERNAME)."""
    from streams.devtools import localbroker

    try:
        localbroker.add_scram_users(port, {username: password})
    except localbroker.BrokerError as error:
        _fail(str(error), code=1)
    click.echo(f"User:{username}: SCRAM-SHA-512 credential stored on port {port}")


@broker.command("stop")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_stop(port: int) -> None:
    """Stop the embedded broker started on this port."""
    from streams.devtools import localbroker

    stopped = localbroker.stop(port=port)
    click.echo(f"broker on port {port}: {'stopped' if stopped else 'was not running'}")


@broker.command("status")
@click.option("--port", type=int, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_status(port: int) -> None:
    """Say whether the embedded broker runs; exit 1 if it doesn't."""
    from streams.devtools import localbroker

    status = localbroker.status(port=port)
    click.echo(_describe_broker(status))
    sys.exit(0 if status.running else 1)


def _describe_broker(status: BrokerStatus) -> str:
    parts = [f"Kafka {status.version} at {status.bootstrap}", "running" if status.running else "not running"]
    if status.pid:
        parts.append(f"pid {status.pid}")
    if status.running:
        parts.append(f"log {status.log_path}")
    if status.credentials is not None:
        parts.append(
            f"{status.security_protocol} with SCRAM-SHA-512 and ACLs, admin login in {status.credentials}"
        )
    return ", ".join(parts)


@main.group()
def topics() -> None:
    """The topics a config implies."""


@topics.command("apply")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
def topics_apply(config_path: str | None, bootstrap: str | None) -> None:
    """Create every missing topic (ingest, regions, global, quarantine, dead letters), bring existing
    ones to the config's partitions (up only), retention and min.insync.replicas, and grant the ACLs
    the config's access section implies (docs/access.md). Prints every change; a second run changes
    nothing."""
    from confluent_kafka import KafkaException

    from streams.kafka.clients import KafkaLoginMissing
    from streams.kafka.topics import apply_topics

    config = _config(config_path)
    try:
        plan = apply_topics(config, bootstrap or config.kafka.bootstrap_servers)
    except KafkaLoginMissing as error:
        _fail(str(error))
    except (KafkaException, TimeoutError) as error:
        _fail(f"can't apply topics: {error}", code=1)
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


@main.group("keys")
def keys_group() -> None:
    """Pseudonymization keys: make a new one, check the configured ones. Never prints a secret."""


@keys_group.command("new")
@click.option("--region", required=True, help="The region the key is for.")
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="The key's version: one more than the region's current version when rotating.",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
@click.option(
    "--kms-key-id",
    help="Wrap the key with this AWS KMS key (GenerateDataKey) and print the ciphertext blob, not the key.",
)
@click.option("--kms-region", help="AWS region of the KMS key. Default: keys.kms.region_name, AWS_REGION.")
@click.option("--kms-endpoint-url", help="Another KMS endpoint. Default: keys.kms.endpoint_url.")
def keys_new(
    region: str,
    version: int,
    config_path: str | None,
    kms_key_id: str | None,
    kms_region: str | None,
    kms_endpoint_url: str | None,
) -> None:
    """Print a new key-text entry, <version>:<base64>, for one region; stderr says where it goes."""
    import secrets

    from streams.keys.providers import key_location
    from streams.keys.providers.aws_kms import generate_wrapped_key
    from streams.keys.providers.key_text import format_entry
    from streams.keys.ring import MIN_KEY_BYTES

    config = _config(config_path)
    settings = config.keys
    if region not in config.regions:
        _fail(f"--region {region!r} is not a region of the config ({', '.join(config.regions)})")
    if kms_key_id is None and settings.source == "aws_kms":
        _fail("keys.source is aws_kms: pass --kms-key-id so that KMS wraps the key")
    if kms_key_id is None:
        material = secrets.token_bytes(MIN_KEY_BYTES)
    else:
        try:
            material = generate_wrapped_key(
                region,
                kms_key_id,
                region_name=kms_region or settings.kms.region_name,
                endpoint_url=kms_endpoint_url or settings.kms.endpoint_url,
            )
        except KeyUnavailable as error:
            _fail(str(error), code=1)
    click.echo(format_entry(version, material))
    notes = [
        f"residency-gateway: key version {version} for region {region!r} "
        f"({'wrapped by KMS key ' + kms_key_id if kms_key_id else 'plain, keep it secret'}).",
        f"  It goes first in {key_location(settings, region)}; to rotate, keep the previous entry after it "
        "with @<end of the overlap window>, e.g. 2:<new>,1:<old>@2026-12-31T00:00:00Z (docs/keys.md).",
    ]
    if kms_key_id is not None and settings.source != "aws_kms":
        notes.append("  The config's keys.source must be aws_kms for the gateway to decrypt it.")
    click.echo("\n".join(notes), err=True)


@keys_group.command("check")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=_CONFIG_HELP)
def keys_check(config_path: str | None) -> None:
    """Load the configured keys; print each region's versions, retire dates and fingerprints."""
    from streams.keys.providers import provider_for
    from streams.keys.ring import key_fingerprint, utc_now, utc_text

    config = _config(config_path)
    regions = config.key_regions()
    try:
        provider = provider_for(config.keys)
        ring = provider.load(regions)
    except KeyUnavailable as error:
        noun = "problem" if len(error.problems) == 1 else "problems"
        listed = "".join(f"\n  {problem}" for problem in error.problems)
        _fail(f"keys ({config.keys.source}): {len(error.problems)} {noun}{listed}", code=1)
    click.echo(f"keys from {provider.description}: ok ({len(regions)} regions)")
    now = utc_now()
    for region in regions:
        current = ring.for_region(region).version
        for key in ring.all_keys(region):
            if key.retire_after is not None and key.retired(now):
                state = f"retired after {utc_text(key.retire_after)}; remove it"
            elif key.version == current:
                state = "current"
                if key.retire_after is not None:
                    state += f", retires after {utc_text(key.retire_after)}"
            else:
                state = "resolvable" + (
                    f" until {utc_text(key.retire_after)}" if key.retire_after else ", never retires"
                )
            click.echo(f"  {region}: version {key.version}, fingerprint {key_fingerprint(key)}: {state}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=Path(sys.argv[0]).name)
