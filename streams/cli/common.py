"""What every command shares: the config option's help, reading a config, and failing with a clear message."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from streams.config import ConfigError, GatewayConfig, load_config
from streams.service.logs import active_format

CONFIG_HELP = "Gateway config (YAML). Default: the policy shipped with the gateway (config/policy.yaml)."
PORT = click.IntRange(1, 65_535)  # a TCP port: 0 or 99999 is a usage error, not a surprise later
log = logging.getLogger(__name__)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print (or, under `run`'s JSON logs, log) the message and exit with the code."""
    if active_format() == "json":  # `run` logs JSON: its last words too
        log.critical(message, extra={"exit_code": code})
    else:
        click.echo(f"residency-gateway: {message}", err=True)
    sys.exit(code)


def config_or_fail(path: str | None) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        fail(str(error))
