"""docker-compose.yml can start the gateway: it passes the keys `run` needs, and its commands parse.

There is no Docker engine on the development machine, so the file is read, not run: the key
variables of the gateway service against what the policy it mounts needs, and every command
of a service built from this repository against the CLI itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml

from streams.cli import main
from streams.config import load_config
from streams.keys.providers.env import env_var_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
IMAGE_CONFIG = "/app/config/policy.yaml"  # where the Dockerfile copies config/


def _built_here() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in COMPOSE["services"].items() if service.get("build") == "."}


def test_the_gateway_gets_a_key_for_every_region_run_needs_and_no_other() -> None:
    config = load_config(ROOT / "config" / "policy.yaml")
    prefix = config.keys.env_prefix
    needed = {env_var_name(prefix, region) for region in config.key_regions()}
    environment = COMPOSE["services"]["gateway"]["environment"]
    passed = {name for name in environment if name.startswith(prefix)}
    assert passed == needed
    for name in needed:
        # Required, with a message, and never a value written into the file.
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", environment[name]), name


def test_every_command_of_a_service_built_here_parses_with_the_cli() -> None:
    assert "COPY config ./config" in (ROOT / "Dockerfile").read_text()  # what IMAGE_CONFIG names
    services = _built_here()
    assert {"topics", "gateway"} <= set(services)
    for name, service in services.items():
        command = [
            part.replace(IMAGE_CONFIG, str(ROOT / "config" / "policy.yaml")) for part in service["command"]
        ]
        _parse(command, name)


def _parse(args: list[str], service: str) -> None:
    """Parse `args` as `residency-gateway` would, down to the command, without running it."""
    context = main.make_context("residency-gateway", list(args), resilient_parsing=False)
    group: click.Command = main
    while isinstance(group, click.Group):
        name, command, rest = group.resolve_command(context, context.protected_args + context.args)
        assert command is not None, f"{service}: unknown command {name}"
        context = command.make_context(name or "", rest, parent=context)
        group = command
