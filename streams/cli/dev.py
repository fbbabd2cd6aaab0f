"""Development commands: `demo` and the embedded `broker`. They need streams.devtools, which the runtime
image leaves out; there they say so and exit."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

import click

from streams.cli.common import PORT, fail

if TYPE_CHECKING:
    from streams.devtools.localbroker.server import BrokerStatus

DEFAULT_BROKER_PORT = 19092
SECURED_BROKER_PORT = 19100  # and the next three: controller, SASL_SSL, mTLS (clear of 19092-19098)

log = logging.getLogger(__name__)


@click.command()
@click.option(
    "--events",
    "payload_count",
    type=click.IntRange(min=1),
    default=3000,
    show_default=True,
    help="Ingest payloads to send (batches hold several events).",
)
@click.option(
    "--port",
    type=PORT,
    default=DEFAULT_BROKER_PORT,
    show_default=True,
    help="Port of the embedded local broker.",
)
@click.option(
    "--timeout",
    type=float,
    default=180.0,
    show_default=True,
    help="Seconds to wait for the gateway to process everything.",
)
def demo(payload_count: int, port: int, timeout: float) -> None:
    """Start the local broker, run the gateway, send realistic traffic and count every topic."""
    from confluent_kafka import KafkaException

    _require_devtools("demo")
    from streams.devtools.demo import DemoFailed, run_demo

    try:
        run_demo(payload_count=payload_count, port=port, timeout=timeout)
    except DemoFailed as error:
        fail(str(error), code=1)
    except (KafkaException, TimeoutError) as error:
        fail(f"Kafka failed during the demo: {error}", code=1)


@click.group()
def broker() -> None:
    """The embedded single-node Kafka broker (fetched through Maven, no Docker)."""


@broker.command("start")
@click.option("--port", type=PORT, default=DEFAULT_BROKER_PORT, show_default=True)
@click.option(
    "--secure",
    is_flag=True,
    help="SASL_PLAINTEXT with SCRAM-SHA-512 on --port, SASL_SSL (SCRAM-SHA-512 or OAUTHBEARER) on "
    "--port+2, mutual TLS on --port+3, and ACLs (StandardAuthorizer, deny when no ACL matches); use "
    f"other ports than the plain broker's, e.g. {SECURED_BROKER_PORT}.",
)
def broker_start(port: int, secure: bool) -> None:
    """Fetch Kafka if needed, start it on 127.0.0.1, wait until it serves (reuses a running one)."""
    localbroker = _localbroker()

    try:
        status = localbroker.start(port=port, secure=secure)
    except localbroker.BrokerError as error:
        fail(str(error), code=1)
    click.echo(_describe_broker(status))


@broker.command("user")
@click.argument("username")
@click.option("--port", type=PORT, default=SECURED_BROKER_PORT, show_default=True)
@click.option(
    "--password",
    envvar="RESIDENCY_GATEWAY_BROKER_USER_PASSWORD",
    help="Better from RESIDENCY_GATEWAY_BROKER_USER_PASSWORD or stdin; never put it on the command line.",
)
def broker_user(username: str, port: int, password: str | None) -> None:
    """Create or replace a SCRAM-SHA-512 user on the secured broker (its principal is User:USERNAME).

    The password comes from RESIDENCY_GATEWAY_BROKER_USER_PASSWORD, else from stdin's first line
    when stdin isn't a terminal (`echo "$PW" | ...`), else from a prompt that asks twice.
    """
    localbroker = _localbroker()
    if password is None:
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail(
            "an empty password: give one on stdin, in RESIDENCY_GATEWAY_BROKER_USER_PASSWORD or at the prompt"
        )

    try:
        localbroker.add_scram_users(port, {username: password})
    except localbroker.BrokerError as error:
        fail(str(error), code=1)
    click.echo(f"User:{username}: SCRAM-SHA-512 credential stored on port {port}")


@broker.command("cert")
@click.argument("name")
@click.option("--port", type=PORT, default=SECURED_BROKER_PORT, show_default=True)
@click.option(
    "--key-password-env",
    metavar="VARIABLE",
    help="Encrypt the key with the password in this environment variable; unencrypted without it.",
)
def broker_cert(name: str, port: int, key_password_env: str | None) -> None:
    """Issue a client certificate for User:NAME from the secured broker's development CA (mTLS).

    Prints the certificate, key and CA paths: what kafka.security.ssl_* and its variables take.
    """
    localbroker = _localbroker()
    password = None
    if key_password_env is not None:
        password = os.environ.get(key_password_env)
        if not password:
            fail(f"--key-password-env: {key_password_env} is not set")
    try:
        issued = localbroker.issue_client_certificate(port, name, password)
    except ValueError as error:
        fail(str(error))
    except localbroker.BrokerError as error:
        fail(str(error), code=1)
    click.echo(f"User:{name}: client certificate for the mTLS listener on port {port + 3}")
    click.echo(f"  certificate {issued.certificate}")
    click.echo(f"  key         {issued.key}{' (encrypted)' if password else ''}")
    click.echo(f"  ca          {localbroker.ca_location(port)}")


@broker.command("stop")
@click.option("--port", type=PORT, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_stop(port: int) -> None:
    """Stop the embedded broker started on this port."""
    localbroker = _localbroker()

    stopped = localbroker.stop(port=port)
    click.echo(f"broker on port {port}: {'stopped' if stopped else 'was not running'}")


@broker.command("status")
@click.option("--port", type=PORT, default=DEFAULT_BROKER_PORT, show_default=True)
def broker_status(port: int) -> None:
    """Say whether the embedded broker runs; exit 1 if it doesn't."""
    localbroker = _localbroker()

    status = localbroker.status(port=port)
    click.echo(_describe_broker(status))
    sys.exit(0 if status.running else 1)


def _require_devtools(command: str) -> None:
    """Exit with a clear message where the development tools aren't installed (the runtime image)."""
    if importlib.util.find_spec("streams.devtools") is None:
        fail(
            f"`{command}` is a development tool, and this installation leaves streams.devtools out "
            "(the runtime image does); run it from a source checkout (README)",
            code=1,
        )


def _localbroker() -> ModuleType:
    _require_devtools("broker")
    from streams.devtools import localbroker

    return localbroker


def _describe_broker(status: BrokerStatus) -> str:
    parts = [f"Kafka {status.version} at {status.bootstrap}", "running" if status.running else "not running"]
    if status.pid:
        parts.append(f"pid {status.pid}")
    if status.running:
        parts.append(f"log {status.log_path}")
    if status.credentials is not None:
        port = int(status.bootstrap.rpartition(":")[2])
        parts.append(
            f"{status.security_protocol} with SCRAM-SHA-512 and ACLs, admin login in {status.credentials}; "
            f"SASL_SSL on {port + 2}, mTLS on {port + 3}, CA {status.ca_location}"
        )
    return ", ".join(parts)
