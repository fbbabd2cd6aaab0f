"""The gateway's configuration: one strict YAML file loaded into frozen, validated objects.

Every mistake is reported at once, each with its path, e.g.
``regions.eu.countries[3]: 'XX' is not an ISO 3166-1 country``. Secrets never
live here: the file only names where keys come from.

`schema` holds the settings and their per-field checks, `checks` the rules that span
fields, and `loader` reads a file into a `GatewayConfig` or a `ConfigError` listing every
mistake. What the rest of the gateway uses is re-exported here.
"""

from streams.config.loader import DEFAULT_CONFIG_NAME, ConfigError, load_config, parse_config
from streams.config.schema import (
    DEFAULT_PURPOSES,
    FULL,
    Destination,
    FieldPath,
    FieldRules,
    FormatName,
    GatewayConfig,
    KafkaSecurity,
    KafkaSettings,
    KeySettings,
    KmsSettings,
    SignalFieldOverrides,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_PURPOSES",
    "FULL",
    "ConfigError",
    "Destination",
    "FieldPath",
    "FieldRules",
    "FormatName",
    "GatewayConfig",
    "KafkaSecurity",
    "KafkaSettings",
    "KeySettings",
    "KmsSettings",
    "SignalFieldOverrides",
    "load_config",
    "parse_config",
]
