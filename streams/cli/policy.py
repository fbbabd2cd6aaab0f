"""Commands that read a policy with no broker: `explain`, `allowlist` and `check-config`."""

from __future__ import annotations

import logging
import sys
from typing import IO

import click

from streams.classify.geolocation import Geolocator
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
@click.option(
    "--compare",
    nargs=2,
    type=click.Path(dir_okay=False),
    metavar="OLD NEW",
    help="Decide each payload under two policies and report what NEW changes (moves, copies, newly "
    "exported fields): ids and paths, never values. --config is then not used.",
)
@click.argument("input_file", metavar="[INPUT]", type=click.File("rb"), default="-")
def explain(
    config_path: str | None, topic: str | None, compare: tuple[str, str] | None, input_file: IO[bytes]
) -> None:
    """Show the decision and outputs for raw ingest payloads, one per line; no broker needed."""
    from streams.explain import EXPLAIN_TOPIC, explain_lines
    from streams.formats.exact_json import write_json

    if compare:
        _compare(compare, topic, input_file)
        return
    config = config_or_fail(config_path)
    if topic is not None and topic not in config.topics.ingest:
        fail(
            f"--topic {topic!r} is not one of the config's ingest topics ({', '.join(config.topics.ingest)})"
        )
    pipeline = pipeline_or_fail(config, configured_keys_or_fail(config))
    _say_geolocation_age(config, pipeline.geolocator)
    out = sys.stdout.buffer
    for result in explain_lines(pipeline, input_file, topic or EXPLAIN_TOPIC):
        out.write(write_json(result) + b"\n")  # exact: a user id past 64 bits prints its digits
    out.flush()


def _compare(paths: tuple[str, str], topic: str | None, input_file: IO[bytes]) -> None:
    """`explain --compare OLD NEW`: the differences as one JSON report on stdout, a summary on stderr."""
    from streams.explain import EXPLAIN_TOPIC
    from streams.formats.exact_json import write_json
    from streams.shadow import compare_lines, summary_lines

    active, candidate = (config_or_fail(path) for path in paths)
    for config, path in ((active, paths[0]), (candidate, paths[1])):
        if topic is not None and topic not in config.topics.ingest:
            fail(
                f"--topic {topic!r} is not one of {path}'s ingest topics ({', '.join(config.topics.ingest)})"
            )
    before = pipeline_or_fail(active, configured_keys_or_fail(active))
    after = pipeline_or_fail(candidate, configured_keys_or_fail(candidate))
    report = compare_lines(before, after, input_file, topic or EXPLAIN_TOPIC).report()
    report = {
        "active": {"policy_version": active.policy_version, "policy_hash": before.policy_hash},
        "candidate": {"policy_version": candidate.policy_version, "policy_hash": after.policy_hash},
        **report,
    }
    sys.stdout.buffer.write(write_json(report) + b"\n")
    sys.stdout.flush()
    for line in summary_lines(report):
        click.echo(line, err=True)


def _say_geolocation_age(config: GatewayConfig, geolocator: Geolocator) -> None:
    """On stderr, beside the key notice: which data decided the IPs, and whether it is too old."""
    from streams.classify.geolocation import data_age

    age, stale = data_age(geolocator, config.jurisdiction.geolocation.max_age_days)
    click.echo(f"residency-gateway: geolocation: {geolocator.source}, {age}", err=True)
    if stale:
        click.echo(f"residency-gateway: warning: {stale}", err=True)


def configured_keys_or_fail(config: GatewayConfig) -> KeyRing:
    """The configured keys, else labelled development keys (explain, shadow); a configured key
    that can't be loaded is an error, never silently replaced."""
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
@click.argument("config_file", required=False, type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option(
    "--keys",
    "check_keys",
    is_flag=True,
    help="Also load the keys `run` would need from the configured source (never printed).",
)
def check_config(config_file: str | None, config_path: str | None, check_keys: bool) -> None:
    """Validate a config file and print every mistake with its path.

    The file is CONFIG_FILE or --config (either; default: the shipped policy). Exits 0 when it
    is valid (and, with --keys, every key `run` needs loads), 2 when it isn't.
    """
    from streams.classify.geolocation import data_age
    from streams.classify.jurisdiction import geolocator_for
    from streams.classify.maxmind import GeolocationDatabaseError

    if config_file is not None and config_path is not None and config_file != config_path:
        raise click.UsageError("give the config once: as CONFIG_FILE or as --config, not two different files")
    config_file = config_file or config_path
    shown = config_file or "the shipped policy (config/policy.yaml)"
    try:
        config = load_config(config_file)
    except ConfigError as error:
        fail(str(error))
    policy = config.jurisdiction
    try:
        geolocator = geolocator_for(policy.geolocation.database)
    except GeolocationDatabaseError as error:
        fail(str(ConfigError(shown, [f"jurisdiction.geolocation.database: {error}"])))
    age, stale = data_age(geolocator, policy.geolocation.max_age_days)
    geolocation = f"{geolocator.source}, {age}"
    from streams.kafka.clients import unknown_client_settings

    refused = unknown_client_settings(config.kafka)
    if refused:
        fail(str(ConfigError(shown, refused)))
    countries = config.country_regions()
    pinned = ", ".join(f"{topic}={name}" for topic, name in config.topics.ingest_formats.items())
    transfers = "; ".join(
        f"{name} -> {', '.join(f'{d} ({rules})' for d, rules in region.transfers.items()) or 'nowhere'}"
        for name, region in config.regions.items()
    )
    from streams.transform.export import keep_path_misfits

    warnings = [*config.warnings(), *keep_path_misfits(config), *([stale] if stale else [])]
    keys = "not checked (--keys loads them as `run` would)"
    if check_keys:
        from streams.cli.run import keys_or_fail

        ring = keys_or_fail(config, dev_keys=False)  # exits 2, naming every missing or broken key
        # Versions and fingerprints, never keys.
        keys = ", ".join(
            f"{r} v{ring.for_region(r).version} ({ring.fingerprint(r)})" for r in config.key_regions()
        )
    click.echo(
        f"{shown}: ok (policy {config.policy_version}, {config.policy_hash()}, "
        f"{len(config.regions)} regions, {len(countries)} countries assigned)\n"
        f"  signals, by precedence: {', '.join(policy.signals)}; on conflict: {policy.on_conflict}\n"
        f"  geolocation: {geolocation}\n"
        f"  ingest formats: {pinned or 'detected per payload'}\n"
        f"  copies: {transfers}\n"
        f"  keys: {keys}"
    )
    for warning in warnings:
        click.echo(f"  warning: {warning}")
