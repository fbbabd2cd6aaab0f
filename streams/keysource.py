"""Choose the key ring a command runs with: configured keys, or announced development keys."""

from __future__ import annotations

import os
import sys

from streams.config import GatewayConfig
from streams.keys import KeyRing, development_keys, env_var_name, keys_from_env


def configured_or_development_keys(config: GatewayConfig) -> KeyRing:
    """For demo and explain: real keys when any are configured, else ephemeral ones, said on stderr."""
    regions = config.exporting_regions()
    prefix = config.keys.env_prefix
    if any(os.environ.get(env_var_name(prefix, region)) for region in regions):
        return keys_from_env(regions, prefix)  # partly configured is a mistake, not a fallback
    announce_development_keys(regions)
    return development_keys(regions)


def announce_development_keys(regions: list[str]) -> None:
    print(
        "residency-gateway: no pseudonymization keys configured; using ephemeral development "
        f"keys for {', '.join(regions)} (pseudonyms won't match across runs, version 0)",
        file=sys.stderr,
    )
