"""`keys new` and `keys check`: make a key text, and say which keys a config would run with."""

from __future__ import annotations

import logging

import click

from streams.cli.common import CONFIG_HELP, config_or_fail, fail
from streams.keys.ring import KeyUnavailable

log = logging.getLogger(__name__)


@click.group("keys")
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
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
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

    config = config_or_fail(config_path)
    settings = config.keys
    if region not in config.regions:
        fail(f"--region {region!r} is not a region of the config ({', '.join(config.regions)})")
    if kms_key_id is None and settings.source == "aws_kms":
        fail("keys.source is aws_kms: pass --kms-key-id so that KMS wraps the key")
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
            fail(str(error), code=1)
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
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
def keys_check(config_path: str | None) -> None:
    """Load the configured keys; print each region's versions, retire dates and fingerprints."""
    from streams.keys.providers import provider_for
    from streams.keys.ring import key_fingerprint, utc_now, utc_text

    config = config_or_fail(config_path)
    regions = config.key_regions()
    try:
        provider = provider_for(config.keys)
        ring = provider.load(regions)
    except KeyUnavailable as error:
        noun = "problem" if len(error.problems) == 1 else "problems"
        listed = "".join(f"\n  {problem}" for problem in error.problems)
        fail(f"keys ({config.keys.source}): {len(error.problems)} {noun}{listed}")  # a config matter: 2
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
