"""Realistic mixed collector traffic to a Kafka topic, at a given rate or as fast as it goes.

    python -m loadtests.generator --topic T --count N [--rate R] [--bootstrap B] [--seed S]

Every collector format and every region (streams.devtools.traffic.TrafficGenerator), about
10% of events with an email, phone number or IP in free text, and a few malformed
payloads. Records go round-robin over the topic's partitions, so consumers of
several partitions get equal shares. `send` is what the benchmark calls to pre-load
its input topic and to offer a fixed load when it measures latency.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.devtools.traffic import TrafficGenerator, TrafficMix

# The benchmark's traffic: the demo's mix plus free-text personal data in ~10% of events.
BENCH_MIX = TrafficMix(free_text_pii=0.10)

# Called with (partition, offset, time.time() at produce) for every acknowledged record.
OnSent = Callable[[int, int, float], None]


def payloads(count: int, seed: int = 1, mix: TrafficMix = BENCH_MIX) -> list[bytes]:
    return list(TrafficGenerator(seed=seed, mix=mix).payloads(count))


@dataclass(frozen=True)
class SendReport:
    records: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class SendFailed(Exception):
    """Some records were not acknowledged by the broker."""


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # Uncompressed: the naive faust agent's client (aiokafka) has no lz4 codec installed here.
        "compression.type": "none",
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
    }


def send(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes],
    rate: float | None = None,
    on_sent: OnSent | None = None,
    timeout: float = 120.0,
    producer: Producer | None = None,
) -> SendReport:
    """Produce `values` to `topic` round-robin over its partitions; `rate` records/s, or unpaced.

    With `producer`, that one (e.g. one inside a transaction it will commit later).
    """
    producer = producer or Producer(producer_config(bootstrap))
    partitions = len(producer.list_topics(topic, timeout=30).topics[topic].partitions)
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, message: Message, sent_at: float) -> None:
        if error is not None:
            errors.append(error)
        elif on_sent is not None:
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None
            on_sent(partition, offset, sent_at)

    count = size = 0
    started = time.perf_counter()
    for count, value in enumerate(values, 1):
        if rate is not None:
            # Paced against the schedule, not the previous record, so pauses don't accumulate.
            wait = started + (count - 1) / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        sent_at = time.time()
        callback = (lambda e, m, t=sent_at: delivered(e, m, t)) if on_sent is not None else None
        while True:
            try:
                producer.produce(topic, value, partition=count % partitions, on_delivery=callback)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        size += len(value)
    remaining = producer.flush(timeout)
    seconds = time.perf_counter() - started
    if remaining or errors:
        reasons = sorted({e.str() for e in errors}) or [f"{remaining} still queued"]
        raise SendFailed(f"{topic}: {'; '.join(reasons)}")
    return SendReport(count, size, seconds)


def send_held(bootstrap: str, topic: str, values: Iterable[bytes]) -> tuple[Producer, dict[int, int]]:
    """Produce `values` in one transaction left open: read_committed readers see none of them until
    the caller commits it (`commit_transaction`), and then all of them at once.

    Also returns each partition's offset after its last record (its commit marker takes the next).
    """
    producer = Producer(
        {
            **producer_config(bootstrap),
            "transactional.id": f"bench-held-{topic}",
            "transaction.timeout.ms": 600_000,
            "message.timeout.ms": 600_000,
        }
    )
    producer.init_transactions(60)
    producer.begin_transaction()
    ends: dict[int, int] = {}

    def sent(partition: int, offset: int, _at: float) -> None:
        ends[partition] = max(ends.get(partition, 0), offset + 1)

    send(bootstrap, topic, values, producer=producer, on_sent=sent)
    return producer, ends


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True, help="payloads to send")
    parser.add_argument("--rate", type=float, default=None, help="payloads per second (default: unpaced)")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.count < 1 or (args.rate is not None and args.rate <= 0):
        parser.error("--count and --rate must be positive")
    generator = TrafficGenerator(seed=args.seed, mix=BENCH_MIX)
    report = send(args.bootstrap, args.topic, generator.payloads(args.count), rate=args.rate)
    print(
        f"sent {report.records} payloads ({report.bytes / report.records:.0f} bytes mean) to {args.topic} "
        f"in {report.seconds:.1f}s: {report.rate:,.0f}/s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
