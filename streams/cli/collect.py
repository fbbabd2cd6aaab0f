"""`collect`: the HTTP endpoint SDKs send to, writing the ingest topic (streams/collect/)."""

from __future__ import annotations

import logging

import click

from streams.cli.common import CONFIG_HELP, PORT, config_or_fail, fail

log = logging.getLogger(__name__)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--bootstrap", help="Kafka bootstrap servers; overrides kafka.bootstrap_servers.")
@click.option("--port", type=PORT, default=8080, show_default=True, help="Port the SDKs send to.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 in a container."
)
def collect(config_path: str | None, bootstrap: str | None, port: int, host: str) -> None:
    """Accept the SDKs' own protocols over HTTP (Segment and RudderStack /v1/*, Snowplow tp2 and the
    pixel, GA4 Measurement Protocol) and write each request's records to the ingest topic, answering
    200 only once the broker has them (docs/collect.md)."""
    from aiohttp import web

    from streams.collect.server import WriteKeys, build_collect_app
    from streams.kafka.clients import KafkaLoginMissing, client_security
    from streams.service.logs import configure

    configure("text", "info")
    config = config_or_fail(config_path)
    settings = config.collect
    try:
        keys = WriteKeys(settings.write_keys_env, file=settings.write_keys_file)
    except OSError as error:
        fail(f"collect.write_keys_file: can't read {settings.write_keys_file} ({error.strerror})")
    if not keys:
        where = settings.write_keys_env + (
            f" or {settings.write_keys_file}" if settings.write_keys_file else ""
        )
        log.warning(
            "no write keys in %s: every Segment, RudderStack, webhook and GA4 request gets 401", where
        )
    try:
        login = client_security(config.kafka.security)
    except KafkaLoginMissing as error:
        fail(str(error))
    kafka = config.kafka
    producer = {
        "bootstrap.servers": bootstrap or kafka.bootstrap_servers,
        **login,
        # Idempotent and acks=all: a retried send can't duplicate or reorder, and an acknowledged
        # record survives a leader change.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": kafka.linger_ms,
        "compression.type": kafka.compression,
        "queue.buffering.max.messages": settings.max_queued_records,
        # librdkafka gives up on a record when its request is answered 503, not long after.
        "message.timeout.ms": settings.ack_timeout_ms,
        **kafka.client_settings.producer,
    }
    app = build_collect_app(config, producer, keys)
    log.info(
        "collect: listening on %s:%d, writing %s",
        host,
        port,
        ", ".join(sorted(set(app["collector"].topics.values()))),
    )
    # SIGTERM: stop accepting, let in-flight requests finish (up to 15 s), then flush the producer.
    # auto_decompress off: aiohttp would inflate a gzip body chunk by chunk with no bound; the
    # handlers inflate it themselves, stopping at collect.max_body_bytes (a gzip bomb gets 413).
    web.run_app(
        app, host=host, port=port, print=None, shutdown_timeout=15.0, access_log=None, auto_decompress=False
    )
