"""The policy topic: `policy publish` writes a validated policy there, every worker reads it.

`<group_id>-policy` is compacted with one partition and one key, so it holds the latest policy
(`topics apply` makes it; only the admin may write it, the gateway only reads). A worker reads it
with no consumer group: every worker must see every policy, and at every start the latest one,
which a group shared by the workers (faust's agents share one) would give to one worker only and
resume past. So each worker assigns the partition itself, reads it to its end at start, and then
follows it (PolicyWatcher).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from streams.config import GatewayConfig
from streams.kafka.reading import read_to_end
from streams.kafka.topics import policy_topic
from streams.rollout import POLICY_KEY

__all__ = ["PolicyWatcher", "PublishedPolicy", "policy_topic", "publish"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedPolicy:
    text: str
    offset: int


def publish(settings: Mapping[str, Any], topic: str, text: str, config: GatewayConfig, timeout: float) -> int:
    """Write the policy text as the topic's latest record; its offset once the broker has it."""
    producer = Producer({**settings, "enable.idempotence": True, "acks": "all"})
    delivered: list[Any] = []
    producer.produce(
        topic,
        text.encode(),
        POLICY_KEY,
        headers=[
            ("rg-policy-version", config.policy_version.encode()),
            ("rg-policy-hash", config.policy_hash().encode()),
        ],
        on_delivery=lambda error, message: delivered.append((error, message)),
    )
    producer.flush(timeout)
    if not delivered:
        raise TimeoutError(f"the broker didn't acknowledge the policy within {timeout:.0f}s")
    error, message = delivered[0]
    if error is not None:
        raise RuntimeError(f"the broker refused the policy: {error.str()}")
    return int(message.offset())


class PolicyWatcher:
    """Reads the policy topic from its start, with no group; `latest()` once, then `follow()`."""

    def __init__(self, settings: Mapping[str, Any], topic: str) -> None:
        self._consumer = Consumer(
            {
                **settings,
                "group.id": f"{topic}-reader",  # required by librdkafka; never joined or committed
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
            }
        )
        self._topic = topic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def topics(self, timeout: float) -> set[str]:
        return set(self._consumer.list_topics(timeout=timeout).topics)

    def latest(self, timeout: float) -> PublishedPolicy | None:
        """The last policy published before now (None if none), leaving the reader at the end."""
        partition = (self._topic, 0)
        low, high = self._consumer.get_watermark_offsets(TopicPartition(*partition), timeout=timeout)
        found: list[PublishedPolicy] = []

        def keep(message: Any) -> None:
            published = self._read(message)
            if published is not None:
                found.append(published)

        if read_to_end(self._consumer, {partition: high}, {partition: low}, keep, timeout=timeout):
            raise TimeoutError(f"reading {self._topic} to its end took more than {timeout:.0f}s")
        if high <= low:
            # Nothing published yet: read_to_end assigned nothing, so follow() starts at the beginning.
            self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        return found[-1] if found else None

    def follow(self, on_policy: Callable[[PublishedPolicy], object]) -> None:
        """Call `on_policy` with each policy published from here on, in a thread of its own."""

        def loop() -> None:
            while not self._stop.is_set():
                message = self._consumer.poll(0.5)
                if message is None or self._stop.is_set():
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("policy topic: %s", error.str())
                    continue
                published = self._read(message)
                if published is not None:
                    try:
                        on_policy(published)
                    except Exception:  # a bad policy must never stop the watching
                        log.exception(
                            "policy from %s at offset %d: not applied", self._topic, published.offset
                        )

        self._thread = threading.Thread(target=loop, name="policy-watcher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._consumer.close()

    def _read(self, message: Any) -> PublishedPolicy | None:
        value = message.value()
        if message.key() != POLICY_KEY or value is None:
            return None  # not a policy (a tombstone, another key): nothing to apply
        try:
            return PublishedPolicy(value.decode(), message.offset())
        except UnicodeDecodeError:
            return PublishedPolicy("\x00not UTF-8", message.offset())  # refused by the parser, named
