"""Choose the key ring a command runs with: configured keys, or announced development keys."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from streams.config import GatewayConfig, KeySettings
from streams.keys.providers import provider_for
from streams.keys.providers.env import env_var_name
from streams.keys.providers.files import any_key_file
from streams.keys.ring import KeyRing, development_keys


def configured_or_development_keys(config: GatewayConfig) -> KeyRing:
    """For demo and explain: real keys when any are configured, else ephemeral ones, said on stderr."""
    regions = config.key_regions()
    if keys_configured(config.keys, regions):
        # Partly configured is a mistake, not a fallback: load reports what is missing.
        return provider_for(config.keys).load(regions)
    announce_development_keys(regions)
    return development_keys(regions)


def keys_configured(settings: KeySettings, regions: Sequence[str]) -> bool:
    """Whether any key is configured for these regions (aws_kms always counts as configured)."""
    if settings.source == "aws_kms":
        return True
    if settings.source == "file":
        return settings.directory is not None and any_key_file(regions, settings.directory)
    return any(os.environ.get(env_var_name(settings.env_prefix, region)) for region in regions)


def announce_development_keys(regions: list[str]) -> None:
    print(f"residency-gateway: {development_keys_notice(regions)}", file=sys.stderr)


def development_keys_notice(regions: list[str]) -> str:
    return (
        "no pseudonymization keys configured; using ephemeral development "
        f"keys for {', '.join(regions)} (pseudonyms won't match across runs, version 0)"
    )
