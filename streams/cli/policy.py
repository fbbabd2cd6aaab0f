"""Commands that read a policy with no broker: `explain`, `allowlist` and `check-config`."""

from __future__ import annotations

import logging
import sys
from typing import IO

import click

from streams.cli.common import CONFIG_HELP, config_or_fail, fail
from streams.cli.run import pipeline_or_fail
from streams.config import ConfigError, GatewayConfig, load_config
from streams.keys.ring import KeyRing, KeyUnavailable
from streams.keys.source import configured_or_development_keys

log = logging.getLogger(__name__)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option(
    "--topic",
    help="Read the payloads as coming from this ingest topic, so a format pinned to it applies.",
)
@click.argument("input_file", metavar="[INPUT]", type=click.File("rb"), default="-")
def explain(config_path: str | None, topic: str | None, input_file: IO[bytes]) -> None:
    """Show the decision and outputs for raw ingest payloads, one per line; no broker needed."""
    from streams.explain import EXPLAIN_TOPIC, explain_lines
    from streams.formats.exact_json import write_json

    config = config_or_fail(config_path)
    if topic is not None and topic not in config.topics.ingest:
        fail(
            f"--topic {topic!r} is not one of the config's ingest topics ({', '.join(config.topics.ingest)})"
        )
    pipeline = pipeline_or_fail(config, _explain_keys(config))
    out = sys.stdout.buffer
    for result in explain_lines(pipeline, input_file, topic or EXPLAIN_TOPIC):
        out.write(write_json(result) + b"\n")  # exact: a user id past 64 bits prints its digits
    out.flush()


def _explain_keys(config: GatewayConfig) -> KeyRing:
    try:
        return configured_or_development_keys(config)
    except KeyUnavailable as error:
        listed = "".join(f"\n  {problem}" for problem in error.problems)
        fail(f"pseudonymization keys are configured but can't be used:{listed}")


@click.command("allowlist")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--destination", help="The destination whose copies to show. Default: the config's first.")
@click.option("--format", "format_name", help="Only this collector format (segment, ga4, snowplow, ...).")
def allowlist(config_path: str | None, destination: str | None, format_name: str | None) -> None:
    """Print what a destination's copies keep, per collector format; everything else is dropped."""
    from streams.formats.allowlist import table, with_keep_paths
    from streams.formats.detect import decoder_for
    from streams.transform.identities import kept_key_kind

    config = config_or_fail(config_path)
    name = destination or next(iter(config.destinations))
    if name not in config.destinations:
        fail(
            f"--destination {name!r} is not one of the config's destinations "
            f"({', '.join(config.destinations)})"
        )
    formats = decoder_for(config).formats
    if format_name is not None and format_name not in formats:
        fail(f"--format {format_name!r} is not one of the config's formats ({', '.join(formats)})")
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


@click.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file: str) -> None:
    """Validate a config file and print every mistake with its path."""
    from streams.classify.jurisdiction import geolocator_for
    from streams.classify.maxmind import GeolocationDatabaseError

    try:
        config = load_config(config_file)
    except ConfigError as error:
        fail(str(error), code=1)
    policy = config.jurisdiction
    try:
        geolocation = geolocator_for(policy.geolocation.database).source
    except GeolocationDatabaseError as error:
        fail(str(ConfigError(config_file, [f"jurisdiction.geolocation.database: {error}"])), code=1)
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
