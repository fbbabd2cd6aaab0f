"""Format, start, watch and stop a combined KRaft broker+controller on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from streams.devtools.localbroker import security, tls
from streams.devtools.localbroker.fetch import KAFKA_VERSION, BrokerError, cache_root, ensure_jars

_HOST = "127.0.0.1"
# The machine also runs tests and benchmarks beside the broker; Kafka needs far less than its 1 GB default.
_JAVA_OPTIONS = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
# The secured broker serves tests beside the plain one: smaller still.
_SECURED_JAVA_OPTIONS = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    version: str
    pid: int | None  # None when not running, or when a broker we didn't start serves the port
    log_path: Path
    reused: bool = False  # start() found it already serving
    # SASL_PLAINTEXT: SCRAM-SHA-512 and ACLs, with the admin's credentials in `credentials`.
    security_protocol: str = "PLAINTEXT"
    credentials: Path | None = None
    ca_location: Path | None = None  # secured: the development CA that signed its TLS listeners


def state_dir(port: int) -> Path:
    return cache_root() / f"broker-{port}"


def start(port: int = 19092, timeout: float = 90.0, secure: bool = False) -> BrokerStatus:
    """Start the broker (fetching Kafka first if needed) and wait until it serves; reuse a running one.

    `secure` starts it with SASL/SCRAM and ACLs instead (streams.devtools.localbroker.security).
    """
    if secure:
        return _start_secured(port, timeout)
    bootstrap = f"{_HOST}:{port}"
    current = status(port)
    if current.running:
        if current.security_protocol != "PLAINTEXT":
            raise BrokerError(f"the broker on port {port} runs secured; stop it or pick another --port")
        return BrokerStatus(True, bootstrap, KAFKA_VERSION, current.pid, current.log_path, reused=True)
    if _port_open(port):
        raise BrokerError(
            f"port {port} is taken by something that doesn't answer as Kafka; pick another --port"
        )
    libs = ensure_jars()
    state = state_dir(port)
    data = state / "data"
    state.mkdir(parents=True, exist_ok=True)
    (state / security.MARKER).unlink(missing_ok=True)
    properties = state / "server.properties"
    properties.write_text(_server_properties(port, data))
    log4j = state / "log4j2.properties"
    log4j.write_text(_log4j_properties(state / "server.log"))
    classpath = f"{libs}/*"
    java = ["java", *_JAVA_OPTIONS, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    if not (data / "meta.properties").exists():
        _format_storage(java, properties, state)
    print(f"residency-gateway: starting Kafka {KAFKA_VERSION} on {bootstrap}", file=sys.stderr, flush=True)
    process = _launch(java, properties, state)
    try:
        wait_until_serving(bootstrap, timeout, process=process, log_path=state / "server.log")
    except BrokerError:
        _terminate(process.pid)
        raise
    return BrokerStatus(True, bootstrap, KAFKA_VERSION, process.pid, state / "server.log")


def _launch(java: list[str], properties: Path, state: Path) -> subprocess.Popen[bytes]:
    """Start the broker process detached, its output in stdout.log, its pid in broker.pid."""
    with (state / "stdout.log").open("ab") as out:
        process = subprocess.Popen(
            [*java, "kafka.Kafka", str(properties)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # it must outlive the command that started it
        )
    (state / "broker.pid").write_text(str(process.pid))
    return process


def stop(port: int = 19092, timeout: float = 30.0) -> bool:
    """Stop the broker this module started on `port`; True if one was stopped."""
    pid_file = state_dir(port) / "broker.pid"
    pid = _live_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _terminate(pid, timeout)
    pid_file.unlink(missing_ok=True)
    (state_dir(port) / security.MARKER).unlink(missing_ok=True)
    return True


def status(port: int = 19092) -> BrokerStatus:
    state = state_dir(port)
    pid = _live_pid(state / "broker.pid")
    bootstrap = f"{_HOST}:{port}"
    if (state / security.MARKER).exists():
        settings = admin_settings(port)
        serving = _port_open(port) and _serves_kafka(bootstrap, timeout=5.0, settings=settings)
        credentials = security.credentials_path(state)
        return BrokerStatus(
            serving,
            bootstrap,
            KAFKA_VERSION,
            pid if serving else None,
            state / "server.log",
            security_protocol=security.SECURITY_PROTOCOL,
            credentials=credentials,
            ca_location=tls.ca_path(state),
        )
    serving = _port_open(port) and _serves_kafka(bootstrap, timeout=5.0)
    return BrokerStatus(serving, bootstrap, KAFKA_VERSION, pid if serving else None, state / "server.log")


def admin_settings(port: int) -> dict[str, Any]:
    """librdkafka settings for the broker's super user: its credentials when secured, none otherwise."""
    settings: dict[str, Any] = {"bootstrap.servers": f"{_HOST}:{port}"}
    state = state_dir(port)
    if (state / security.MARKER).exists():
        settings |= security.client_settings(security.admin_credentials(state))
    return settings


def add_scram_users(port: int, users: Mapping[str, str], timeout: float = 30.0) -> None:
    """Create or replace SCRAM-SHA-512 users (name → password) on the secured broker at `port`."""
    state = state_dir(port)
    if not (state / security.MARKER).exists():
        raise BrokerError(f"the broker on port {port} was not started secured (broker start --secure)")
    security.add_scram_users(f"{_HOST}:{port}", security.admin_credentials(state), users, timeout)


def issue_client_certificate(port: int, name: str, key_password: str | None = None) -> tls.ClientCertificate:
    """A client certificate for User:<name> on the secured broker at `port` (its mTLS listener, port + 3)."""
    state = state_dir(port)
    if not (state / security.MARKER).exists():
        raise BrokerError(f"the broker on port {port} was not started secured (broker start --secure)")
    return tls.issue_client_certificate(state, name, key_password)


def ca_location(port: int) -> Path:
    """The CA bundle that verifies the secured broker's TLS listeners (librdkafka's ssl.ca.location)."""
    return tls.ca_path(state_dir(port))


def _start_secured(port: int, timeout: float) -> BrokerStatus:
    bootstrap = f"{_HOST}:{port}"
    state = state_dir(port)
    current = status(port)
    if current.running:
        if current.security_protocol != security.SECURITY_PROTOCOL:
            raise BrokerError(f"the broker on port {port} runs without SASL; stop it or pick another --port")
        return BrokerStatus(
            True,
            bootstrap,
            KAFKA_VERSION,
            current.pid,
            current.log_path,
            reused=True,
            security_protocol=security.SECURITY_PROTOCOL,
            credentials=current.credentials,
            ca_location=current.ca_location,
        )
    ports = security.SecuredPorts(port)
    taken = [str(p) for p in ports.all() if _port_open(p)]
    if taken:
        raise BrokerError(
            f"port {', '.join(taken)} of {port}-{port + 3} is taken by something that isn't our broker; "
            "pick another --port"
        )
    libs = ensure_jars()
    admin = security.admin_credentials(state)
    # Its own data directory: a plain broker's metadata log holds no SCRAM credentials.
    data = state / "data-secured"
    properties = state / "server-secured.properties"
    descriptor = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a password
    with os.fdopen(descriptor, "w") as out:
        out.write(security.server_properties(ports, _HOST, admin, state) + _single_node_settings(data))
    log4j = state / "log4j2.properties"
    log4j.write_text(_log4j_properties(state / "server.log"))
    java = [
        "java", *_SECURED_JAVA_OPTIONS, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"
    ]  # fmt: skip
    if not (data / "meta.properties").exists():
        _format_storage(java, properties, state, security.format_arguments(admin))
    print(
        f"residency-gateway: starting Kafka {KAFKA_VERSION} with SASL/SCRAM and ACLs on {bootstrap} "
        f"(SASL_SSL on {ports.sasl_ssl}, mTLS on {ports.ssl})",
        file=sys.stderr,
        flush=True,
    )
    process = _launch(java, properties, state)
    (state / security.MARKER).write_text(security.SECURITY_PROTOCOL)
    try:
        wait_until_serving(
            bootstrap,
            timeout,
            process=process,
            log_path=state / "server.log",
            settings=security.client_settings(admin),
        )
    except BrokerError:
        _terminate(process.pid)
        (state / security.MARKER).unlink(missing_ok=True)
        raise
    return BrokerStatus(
        True,
        bootstrap,
        KAFKA_VERSION,
        process.pid,
        state / "server.log",
        security_protocol=security.SECURITY_PROTOCOL,
        credentials=security.credentials_path(state),
        ca_location=tls.ca_path(state),
    )


def wait_until_serving(
    bootstrap: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    settings: Mapping[str, Any] | None = None,
) -> None:
    """Block until a Kafka broker answers metadata requests at `bootstrap` (with client `settings`)."""
    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"Kafka exited with code {process.returncode} while starting{_tail(log_path)}")
        if _port_open(int(port), host) and _serves_kafka(bootstrap, timeout=3.0, settings=settings):
            return
        if time.monotonic() > next_note:
            print("residency-gateway: waiting for Kafka to serve requests...", file=sys.stderr, flush=True)
            next_note = time.monotonic() + 5
        time.sleep(0.5)
    raise BrokerError(f"Kafka at {bootstrap} did not serve requests within {timeout:.0f}s{_tail(log_path)}")


def _format_storage(java: list[str], properties: Path, state: Path, extra: Sequence[str] = ()) -> None:
    # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding. One in 64
    # starts with "-", which StorageTool reads as an option and fails on, so draw again.
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    done = subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties), *extra],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BrokerError(
            f"formatting KRaft storage in {state} failed:\n{(done.stdout + done.stderr)[-2000:]}"
        )


def _server_properties(port: int, data: Path) -> str:
    controller_port = port + 1
    listeners = f"""\
# Written by residency-gateway broker start: a single-node broker+controller for development and CI.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{_HOST}:{controller_port}
listeners=PLAINTEXT://{_HOST}:{port},CONTROLLER://{_HOST}:{controller_port}
advertised.listeners=PLAINTEXT://{_HOST}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
"""
    return listeners + _single_node_settings(data)


def _single_node_settings(data: Path) -> str:
    """What the plain and the secured broker share: storage, one-replica internal topics, safety."""
    return f"""\
log.dirs={data}
num.partitions=1
# One broker: internal topics can't have more replicas. Production values are in docs/delivery.md.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created on purpose (topics apply), never by a typo in a producer.
auto.create.topics.enable=false
unclean.leader.election.enable=false
"""


def _log4j_properties(log_file: Path) -> str:
    return f"""\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = warn
"""


def _port_open(port: int, host: str = _HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def _serves_kafka(bootstrap: str, timeout: float, settings: Mapping[str, Any] | None = None) -> bool:
    # log_level 0 keeps librdkafka from printing connection noise while the broker boots.
    admin = AdminClient({**(settings or {}), "bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
        return True
    except Exception:
        return False


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"kafka.Kafka" in cmdline else None  # a reused pid is not our broker


def _terminate(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _tail(log_path: Path | None, lines: int = 20) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_path}:\n" + "\n".join(tail)
