"""The parts a fault run is made of: a broker of its own, gateway processes, a producer, a verdict.

Each scenario gets fresh topics and a fresh consumer group on a broker that this
run starts on its own port (so restarting it disturbs nothing else), real keys in
a key directory (the file provider, as a Kubernetes secret mount would give them),
and the gateway as operators run it: `residency-gateway run` in a subprocess. A
gateway process that dies is restarted, as a supervisor would, and counted.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from loadtests.faults.events import ID_PATTERN, CanaryEvent, expected_outputs, hashed_forms
from loadtests.faults.verdict import Verdict, audited_input, judge
from streams.audit import audit_entries
from streams.config import GatewayConfig, parse_config
from streams.kafka.reading import read_to_end
from streams.kafka.retry import retry_while_passing
from streams.kafka.topics import apply_topics
from streams.keys.providers.files import file_key_texts
from streams.keys.providers.key_text import format_entry, key_ring
from streams.keys.ring import MIN_KEY_BYTES

POLICY = """
policy_version: faults-{run}
kafka: {{bootstrap_servers: "{bootstrap}", group_id: faults-{run}, batch_size: 500, partitions: 3}}
keys: {{source: file, directory: "{keys}", refresh_seconds: 1, max_age_seconds: 2}}
topics:
  ingest: [{run}.ingest]
  quarantine: {run}.quarantine
  dead_letter: {run}.dead-letter
  audit: {run}.audit
  erasure: {run}.erasure
destinations:
  global: {{topic: {run}.global, purpose: analytics}}
regions:
  eu: {{countries: [EU27, IS, LI, "NO", CH, GB], topic: {run}.eu, transfers: {{global: pseudonymized}}}}
  us: {{countries: [US, PR, GU, VI, AS, MP], topic: {run}.us, transfers: {{global: pseudonymized}}}}
  cn: {{countries: [CN], topic: {run}.cn}}
  in: {{countries: [IN], topic: {run}.in, transfers: {{global: pseudonymized}}}}
  ru: {{countries: [RU], topic: {run}.ru}}
  row: {{countries: "*", topic: {run}.row, transfers: {{global: pseudonymized}}}}
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Every gateway process started, so that a run that fails half-way leaves none behind.
_STARTED: list[Gateway] = []


def stop_every_gateway() -> None:
    for gateway in _STARTED:
        gateway.stop()


class Scenario:
    """One scenario's topics, keys, gateways and traffic."""

    def __init__(self, name: str, bootstrap: str, workdir: Path) -> None:
        self.name = name
        self.run = f"f{uuid.uuid4().hex[:6]}"
        self.bootstrap = bootstrap
        self.dir = workdir / name
        self.keys_dir = self.dir / "keys"
        self.keys_dir.mkdir(parents=True)
        self.config_path = self.dir / "policy.yaml"
        text = POLICY.format(run=self.run, bootstrap=bootstrap, keys=self.keys_dir)
        self.config: GatewayConfig = parse_config(text)
        for region in self.config.key_regions():
            key_file = self.keys_dir / f"{region}.key"
            key_file.write_text(format_entry(1, secrets.token_bytes(MIN_KEY_BYTES)) + "\n")
            key_file.chmod(0o400)
        self.config_path.write_text(text)
        retry_while_passing(lambda: apply_topics(self.config, bootstrap))
        self.gateways: dict[str, Gateway] = {}
        self.restarts = 0
        self.sent: list[CanaryEvent] = []
        self._producer_error: list[str] = []
        self.coordinates: dict[tuple[int, int], str] = {}  # ingest (partition, offset) -> event id
        self._faults: list[threading.Thread] = []
        self._fault_errors: list[BaseException] = []

    # --- gateways ---

    def start_gateway(self, worker: str) -> Gateway:
        gateway = Gateway(self, worker)
        gateway.start()
        self.gateways[worker] = gateway
        _STARTED.append(gateway)
        return gateway

    def in_background(self, fault: Callable[[], None]) -> None:
        """Run a fault while traffic keeps flowing (one that waits for the gateway to react)."""

        def target() -> None:
            try:
                fault()
            except BaseException as error:
                self._fault_errors.append(error)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._faults.append(thread)

    def join_faults(self, timeout: float = 120.0) -> None:
        for thread in self._faults:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"{self.name}: a fault did not finish within {timeout:.0f}s")
        if self._fault_errors:
            raise RuntimeError(
                f"{self.name}: the fault failed: {self._fault_errors[0]}"
            ) from self._fault_errors[0]

    def supervise(self) -> None:
        """Restart any gateway that died on its own, as a process supervisor would."""
        for gateway in self.gateways.values():
            if gateway.wanted and gateway.exited():
                self.restarts += 1
                say(f"      {gateway.worker} exited ({gateway.process.returncode}); supervisor restarts it")
                gateway.start()

    def stop_all(self) -> None:
        for gateway in self.gateways.values():
            gateway.stop()

    # --- traffic ---

    def produce(self, events: list[CanaryEvent], rate: float, during: Callable[[float], None]) -> None:
        """Send `events` at `rate` per second; `during(fraction sent)` runs the faults meanwhile."""
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
        )
        topic = self.config.topics.ingest[0]

        def delivered(error: object, message: Message) -> None:
            if error is not None:
                self._producer_error.append(str(error))
                return
            # Audit records name an unparseable input by its coordinates only.
            match = ID_PATTERN.search(message.value() or b"")
            if match is not None:
                self.coordinates[(message.partition() or 0, message.offset() or 0)] = match.group().decode()

        started = time.monotonic()
        for sent, event in enumerate(events, start=1):
            while True:
                try:
                    producer.produce(topic, event.payload, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            self.sent.append(event)
            if sent % 100 == 0:
                producer.poll(0)
                during(sent / len(events))
                self.supervise()
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        during(1.0)
        if producer.flush(300) or self._producer_error:
            raise RuntimeError(f"the fault run's producer failed: {self._producer_error[:3]}")

    def wait_processed(self, timeout: float = 240.0) -> None:
        """Wait until the group has committed every ingest offset, restarting dead gateways meanwhile."""
        topic = self.config.topics.ingest[0]
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.config.kafka.group_id})
        try:
            partitions = probe.list_topics(topic, timeout=30).topics[topic].partitions
            ends = {p: _end_offset(probe, topic, p) for p in partitions}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.supervise()
                committed = retry_while_passing(
                    lambda: probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
                )
                if all(tp.offset >= ends[tp.partition] for tp in committed if ends[tp.partition] > 0):
                    return
                time.sleep(0.5)
            raise RuntimeError(f"{self.name}: the gateways did not commit every input within {timeout:.0f}s")
        finally:
            probe.close()

    # --- verdict ---

    def verify(self) -> Verdict:
        """Read every output topic as a downstream tool would (read_committed) and judge each input."""
        config = self.config
        keys = key_ring(*file_key_texts(config.key_regions(), self.keys_dir))
        expected = expected_outputs(config, keys, self.sent)
        home_topics = {region.topic for region in config.regions.values()}
        outputs = [
            t for t in config.all_topics() if t not in config.topics.ingest and t != config.topics.erasure
        ]
        outputs = [t for t in outputs if not t.endswith(config.topics.subject_keys_suffix)]
        records = []
        for topic, value in _read_topics(self.bootstrap, outputs):
            if topic == config.topics.audit:  # a batch's record: each entry judged as its event's
                records += [
                    (topic, audited_input(entry, self.coordinates), orjson.dumps(entry))
                    for entry in audit_entries(value)
                ]
            else:
                records.append((topic, self._event_id(topic, value), value))
        return judge(
            expected,
            records,
            home_topics=home_topics,
            held_topics={config.topics.quarantine, config.topics.dead_letter},
            audit_topic=config.topics.audit,
            hashes=hashed_forms(self.sent),
        )

    @staticmethod
    def _event_id(topic: str, value: bytes) -> str | None:
        match = ID_PATTERN.search(value)
        return None if match is None else match.group().decode()


class Gateway:
    """`residency-gateway run` in a subprocess, with its own worker id and web port."""

    def __init__(self, scenario: Scenario, worker: str) -> None:
        self.scenario = scenario
        self.worker = worker
        self.port = _free_port()
        self.log_path = scenario.dir / f"gateway-{worker}.log"
        self.wanted = False
        self.process: subprocess.Popen[bytes]

    def start(self) -> None:
        command = [
            sys.executable, "-m", "streams", "run", "--config", str(self.scenario.config_path),
            "--worker-id", self.worker, "--web-port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.wanted = True

    def exited(self) -> bool:
        return self.process.poll() is not None

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"gateway {self.worker} exited while starting; see {self.log_path}")
            if self.health_status() == 200:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gateway {self.worker} not ready within {timeout:.0f}s; see {self.log_path}")

    def health_status(self) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """Graceful stop (SIGTERM): the worker leaves its group."""
        self.wanted = False
        if not self.exited():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def _read_topics(bootstrap: str, topics: list[str]) -> list[tuple[str, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"faults-reader-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    records: list[tuple[str, bytes]] = []

    def keep(message: Message) -> None:
        records.append((message.topic() or "", message.value() or b""))

    try:
        metadata = consumer.list_topics(timeout=30)
        ends = {}
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                ends[(topic, partition)] = _end_offset(consumer, topic, partition)
        unread = read_to_end(consumer, ends, on_record=keep, timeout=120)
        if unread:
            raise RuntimeError(f"could not read to the end of {sorted(unread)} (an open transaction?)")
    finally:
        consumer.close()
    return records


def _end_offset(consumer: Consumer, topic: str, partition: int) -> int:
    def ask() -> tuple[int, int]:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)

    return retry_while_passing(ask)[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
