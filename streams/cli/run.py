"""`run`: the gateway as a long-running worker, with its keys, its Kafka login and its web server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import click

from streams.config import GatewayConfig
from streams.keys.ring import KeyRing, KeyUnavailable, development_keys
from streams.keys.source import development_keys_notice
from streams.service.logs import FORMATS

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

from streams.cli.common import CONFIG_HELP, config_or_fail, fail

log = logging.getLogger(__name__)


def _default_worker_id() -> str:
    import socket

    return socket.gethostname()


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option(
    "--dev-keys",
    is_flag=True,
    help="Use ephemeral development keys. Pseudonyms then differ on every start: never in production.",
)
@click.option(
    "--web-port",
    type=click.IntRange(0, 65_535),
    default=6066,
    show_default=True,
    help="Port of /health and /metrics; 0 serves neither (the demo's and tests' throwaway workers).",
)
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
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
)
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

    from confluent_kafka import KafkaException

    from streams.classify.geolocation import data_age
    from streams.classify.maxmind import GeolocationDatabaseError
    from streams.config import ConfigError
    from streams.kafka.clients import unknown_client_settings
    from streams.kafka.lag import LagReader
    from streams.kafka.topics import missing_topics
    from streams.keys.providers import provider_for
    from streams.rollout import PolicyLog, Refusal
    from streams.service.logs import configure, kafka_client_logger
    from streams.service.policy import PolicyApplier, watch_policy_topic
    from streams.service.wiring import build_gateway
    from streams.service.worker import GatewayWorker, build_app

    logging_config = configure("json" if log_format == "json" else "text", log_level)
    config = config_or_fail(config_path)
    for warning in config.warnings():
        log.warning(warning)
    login = _gateway_login(config)
    refused = unknown_client_settings(config.kafka)
    if refused:
        fail(str(ConfigError(config_path or "the shipped policy", refused)))
    keys = keys_or_fail(config, dev_keys)
    bootstrap = bootstrap or config.kafka.bootstrap_servers
    try:
        missing = missing_topics(config, bootstrap)
    except KafkaException as error:
        fail(f"can't reach Kafka at {bootstrap}: {error.args[0].str()}", code=1)
    if missing:
        fail(
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
        fail(f"jurisdiction.geolocation.database: {error}")
    engine = gateway.engine
    geolocator = gateway.pipeline.geolocator
    age, stale = data_age(geolocator, config.jurisdiction.geolocation.max_age_days)
    log.info("geolocation: %s, %s", geolocator.source, age)
    if stale:
        log.warning(stale)
    topic_regions = {region.topic: name for name, region in config.regions.items()}
    # The group's lag on what the engine consumes, for /metrics: an admin client of its own.
    lag = LagReader(
        {"bootstrap.servers": bootstrap, **login, **client_log, **kafka.client_settings.admin},
        kafka.group_id,
        [*config.topics.ingest, config.topics.erasure],
    )
    # A new policy without a restart: published to the policy topic, or the --config file on SIGHUP.
    policies = PolicyLog()
    applier = PolicyApplier(engine, gateway.keys, gateway.subjects, policies)
    try:
        watcher = watch_policy_topic(config, {"bootstrap.servers": bootstrap, **login, **client_log}, applier)
    except (KafkaException, TimeoutError) as error:
        reason = error.args[0].str() if isinstance(error, KafkaException) else str(error)
        fail(f"can't read the policy topic on {bootstrap}: {reason}", code=1)

    def reload_file() -> None:
        try:
            text = _policy_text(config_path)
        except OSError as error:
            policies.refused(Refusal(None, "file", f"can't read {config_path}: {error.strerror}"))
            log.error("SIGHUP: can't read %s (%s); the running policy stays", config_path, error.strerror)
            return
        applier.apply(text, "file")

    app, service = build_app(
        kafka.worker_app_id, bootstrap, engine, topic_regions, web_port or None, web_host,
        login=login, lag=lag, geolocation_built=lambda: engine.pipeline.geolocator.built,
        policies=policies, reload_file=reload_file,
    )  # fmt: skip
    service.watching_policy_topic = watcher is not None
    log.info(
        "starting worker %s of group %s on %s",
        worker_id,
        kafka.group_id,
        bootstrap,
        extra={"worker_id": worker_id, "group_id": kafka.group_id, "ingest": list(config.topics.ingest)},
    )
    worker = GatewayWorker(app, service, loglevel=log_level, quiet=True, logging_config=logging_config)
    worker.execute_from_commandline()


def _policy_text(config_path: str | None) -> str:
    from importlib import resources
    from pathlib import Path

    from streams.config.loader import DEFAULT_CONFIG_NAME

    if config_path is None:
        return resources.files("streams.config").joinpath(DEFAULT_CONFIG_NAME).read_text()
    return Path(config_path).read_text()


def _gateway_login(config: GatewayConfig) -> dict[str, Any]:
    """The gateway's Kafka login settings; fails before anything starts if its variables are unset."""
    from streams.kafka.clients import KafkaLoginMissing, client_security

    try:
        return client_security(config.kafka.security)
    except KafkaLoginMissing as error:
        fail(str(error))


def pipeline_or_fail(config: GatewayConfig, keys: KeyRing) -> Pipeline:
    from streams.classify.maxmind import GeolocationDatabaseError
    from streams.pipeline import Pipeline

    try:
        return Pipeline(config, keys)
    except GeolocationDatabaseError as error:
        fail(f"jurisdiction.geolocation.database: {error}")


def keys_or_fail(config: GatewayConfig, dev_keys: bool) -> KeyRing:
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
        fail(
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
