"""A real Kafka Connect sink, configured as docs/operations.md says, reads a regional topic exactly once.

Connect standalone (the broker's release, fetched through Maven) runs a FileStreamSinkConnector
with the doc's consumer override, `consumer.override.isolation.level=read_committed`, on a
regional topic that holds committed and aborted transactions. The file sink prints each value's
toString(), which for ByteArrayConverter's byte[] is `[B@1b2c3d`; so here the value converter is
StringConverter, and what this pins is the override and the group name, not the converter.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.devtools.localbroker import CONNECT_STANDALONE_MAIN, ensure_connect_jars

pytestmark = pytest.mark.integration

COMMITTED_FIRST = [b'{"type":"track","event":"committed-%d","userId":"u%d"}' % (i, i) for i in range(3)]
ABORTED = [b'{"type":"track","event":"aborted-%d","userId":"u%d"}' % (i, i) for i in range(3)]
COMMITTED_LAST = [b'{"type":"track","event":"committed-%d","userId":"u%d"}' % (i, i) for i in range(3, 6)]
COMMITTED = COMMITTED_FIRST + COMMITTED_LAST
# Each transaction ends with one control record (a commit or abort marker) in the log.
LOG_END = len(COMMITTED_FIRST) + 1 + len(ABORTED) + 1 + len(COMMITTED_LAST) + 1
_STARTUP_TIMEOUT = 60.0


@dataclass
class SinkRun:
    topic: str
    connector: str
    lines: list[str]  # what the sink wrote, line by line
    groups: set[str]  # every consumer group on the broker afterwards
    committed: int  # what group connect-<connector> committed on the topic's partition 0


@pytest.fixture(scope="module")
def sink_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkRun]:
    libs = ensure_connect_jars()  # a failed fetch raises: the test errors, never skips
    run = uuid.uuid4().hex[:10]
    topic, connector = f"t{run}.eu", f"eu-events-to-file-{run}"
    work = tmp_path_factory.mktemp("connect")
    sink_file = work / "events.eu.txt"
    _create_topic(kafka_bootstrap, topic)
    _produce_transactions(kafka_bootstrap, topic, run)

    port = _free_port()
    worker = work / "worker.properties"
    worker.write_text(
        f"bootstrap.servers={kafka_bootstrap}\n"
        f"listeners=http://127.0.0.1:{port}\n"
        "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
        "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
        f"offset.storage.file.filename={work / 'connect.offsets'}\n"
        # A sink commits its group's offsets at this interval; the default minute would dominate the run.
        "offset.flush.interval.ms=500\n"
        "connector.client.config.override.policy=All\n"
    )
    config = work / "connector.json"
    config.write_text(json.dumps(_connector_config(connector, topic, sink_file)))
    log4j = work / "log4j2.properties"
    log_file = work / "connect.log"
    log4j.write_text(
        "appender.file.type = File\nappender.file.name = file\n"
        f"appender.file.fileName = {log_file}\n"
        "appender.file.layout.type = PatternLayout\nappender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
    )
    with (work / "stdout.log").open("wb") as out:
        process = subprocess.Popen(
            ["java", "-Xms64m", "-Xmx384m", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*",
             CONNECT_STANDALONE_MAIN, str(worker), str(config)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        _wait_running(process, port, connector, log_file)
        group = f"connect-{connector}"
        # The last committed record sits just before the last marker: the group is past it once it commits it.
        committed = _wait_committed(kafka_bootstrap, group, topic, LOG_END - 1, process, log_file)
        groups = _groups(kafka_bootstrap)
        lines = sink_file.read_text(encoding="utf-8").splitlines()
        yield SinkRun(topic, connector, lines, groups, committed)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_a_read_committed_sink_writes_every_committed_record_and_no_aborted_one(sink_run: SinkRun) -> None:
    assert sink_run.lines == [value.decode() for value in COMMITTED]


def test_the_sink_commits_in_group_connect_dash_connector_name(sink_run: SinkRun) -> None:
    group = f"connect-{sink_run.connector}"
    assert group in sink_run.groups
    assert sink_run.committed >= LOG_END - 1


def test_the_aborted_records_are_in_the_log_for_a_read_uncommitted_reader(
    kafka_bootstrap: str, sink_run: SinkRun
) -> None:
    # Without this, a sink that saw no aborted record would prove nothing about its isolation level.
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "isolation.level": "read_uncommitted",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(sink_run.topic, 0, 0)])
        seen: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(seen) < len(COMMITTED) + len(ABORTED) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(message.value())
    finally:
        consumer.close()
    assert seen == COMMITTED_FIRST + ABORTED + COMMITTED_LAST


def _connector_config(name: str, topic: str, sink_file: Path) -> dict[str, object]:
    """The doc's connector, with the file sink in place of S3 and StringConverter for the value."""
    return {
        "name": name,
        "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "topics": topic,
            "file": str(sink_file),
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "consumer.override.isolation.level": "read_committed",
        },
    }


def _create_topic(bootstrap: str, topic: str) -> None:
    # One partition: the sink meets the records in the order they were written.
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: a collected client cancels its futures
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)


def _produce_transactions(bootstrap: str, topic: str, run: str) -> None:
    """A committed transaction, an aborted one, and a committed one, all three in the log."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"connect-test-{run}"})
    producer.init_transactions(30)
    for values, commit in ((COMMITTED_FIRST, True), (ABORTED, False), (COMMITTED_LAST, True)):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value, partition=0)
        # Aborting purges what is still queued: flush first, so the aborted records reach the log.
        assert producer.flush(30) == 0
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{run}"})
    try:
        high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()
    assert high == LOG_END, f"expected {LOG_END} records and markers in {topic}, found {high}"


def _wait_running(process: subprocess.Popen[bytes], port: int, connector: str, log_file: Path) -> None:
    url = f"http://127.0.0.1:{port}/connectors/{connector}/status"
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    state: object = None
    while time.monotonic() < deadline:
        _assert_alive(process, log_file)
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                state = json.load(answer)
        except OSError:
            time.sleep(0.5)
            continue
        assert isinstance(state, dict)
        tasks = state.get("tasks", [])
        if tasks and any(task["state"] == "FAILED" for task in tasks):
            raise AssertionError(f"the sink's task failed: {tasks}\n{_tail(log_file)}")
        if state["connector"]["state"] == "RUNNING" and tasks and tasks[0]["state"] == "RUNNING":
            return
        time.sleep(0.5)
    raise AssertionError(
        f"Connect did not run {connector} within {_STARTUP_TIMEOUT}s: {state}\n{_tail(log_file)}"
    )


def _wait_committed(
    bootstrap: str, group: str, topic: str, offset: int, process: subprocess.Popen[bytes], log_file: Path
) -> int:
    """Wait until `group` has committed at least `offset` on the topic's partition 0, and return it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    committed = -1
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        _assert_alive(process, log_file)
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])
        try:
            answer = admin.list_consumer_group_offsets([request])[group].result(10)
            committed = answer.topic_partitions[0].offset
        except KafkaException:  # the group may not exist yet
            committed = -1
        if committed >= offset:
            return committed
        time.sleep(0.5)
    raise AssertionError(f"group {group} committed {committed} on {topic}, not {offset}\n{_tail(log_file)}")


def _groups(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups().result(10)
    return {group.group_id for group in listed.valid}


def _assert_alive(process: subprocess.Popen[bytes], log_file: Path) -> None:
    if process.poll() is not None:
        raise AssertionError(f"Connect exited with {process.returncode}\n{_tail(log_file)}")


def _tail(log_file: Path, lines: int = 30) -> str:
    if not log_file.exists():
        return "(no Connect log)"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
