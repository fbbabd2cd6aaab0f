"""What a record's headers and an audit record per event cost on the Kafka side, against a real broker.

    python -m loadtests.produce_cost [--records N] [--rounds 3] [--port 19099]
    python -m loadtests.produce_cost --producer-settings [--records N] [--rounds 3]

Issue 16 asks which records and headers to write by measurement. This produces the
same N records (values of the bench traffic's mean size) in several shapes, through a
producer with the gateway's settings, each shape once per round and the rounds
alternating, then flushes and reads the CPU the process spent, split between the
Python thread that calls produce() and librdkafka's threads (rdk:*, from
/proc/self/task). The shapes:

- `no headers`: the value alone;
- `decision headers`: the four headers a regional record carries today (rg-region,
  rg-policy-version, rg-signal, rg-reason);
- `one compact header`: the same decision in one header (`rg-decision: eu;ip;<version>`),
  the full reason left to the audit record;
- `+ audit per event`: decision headers, and after every second record a ~450-byte
  audit record (the bench traffic writes ~1.6 events per payload, each audited);
- `+ audit per batch`: decision headers, and one audit record per 500 records, holding
  the same entries.

Each shape's best round is printed in µs per record (of the records that carry an
event; audit records are the cost they add).

With --producer-settings it instead produces the bench's own payloads (loadtests/generator.py)
with the decision headers under each compression (none, lz4, zstd) and linger.ms (0, 5, 20),
the rest of the gateway's producer settings kept, and prints CPU per record and the bytes
the broker stored per record (its log segments' growth).

The broker is the embedded one, on a port of its own, started and stopped here.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from loadtests.bench.worker import thread_cpu
from streams.config import load_config
from streams.devtools import localbroker
from streams.kafka.clients import producer_settings

VALUE = b"x" * 700  # the bench traffic's payloads average ~700-950 bytes
DECISION = [
    ("rg-region", b"eu"),
    ("rg-policy-version", b"2026-12-02.1"),
    ("rg-signal", b"ip"),
    ("rg-reason", b"ip: GB -> eu (context.ip)"),
]
COMPACT = [("rg-decision", b"eu;ip;2026-12-02.1")]
AUDIT = orjson.dumps(
    {
        "event_id": "0f4a5b6e-2f31-4c56-9d1a-7e0b8a3c2d11",
        "source": {"topic": "events.ingest", "partition": 3, "offset": 123456, "index": 0},
        "format": "segment",
        "outcome": "routed",
        "region": "eu",
        "reason": "ip: GB -> eu (context.ip)",
        "outputs": [
            {"topic": "events.eu", "form": "full", "transformed": [], "found_in_text": {}},
            {"topic": "events.global", "form": "pseudonymized", "transformed": [], "dropped": []},
        ],
        "key_version": 1,
        "policy_hash": "sha256:95640325361c463b44120bea996a1307",
    }
)
BATCH = 500
Shape = Callable[[Any, int], None]  # produce `count` event records (and their audit) through `produce`


def _shapes(topic: str, audit_topic: str) -> dict[str, Shape]:
    def plain(produce: Any, count: int) -> None:
        for _ in range(count):
            produce(topic, VALUE)

    def decision(produce: Any, count: int) -> None:
        for _ in range(count):
            produce(topic, VALUE, headers=DECISION)

    def compact(produce: Any, count: int) -> None:
        for _ in range(count):
            produce(topic, VALUE, headers=COMPACT)

    def audit_per_event(produce: Any, count: int) -> None:
        for n in range(count):
            produce(topic, VALUE, headers=DECISION)
            if n % 2:
                produce(audit_topic, AUDIT)

    def audit_per_batch(produce: Any, count: int) -> None:
        entries = [AUDIT] * (BATCH // 2)
        for n in range(count):
            produce(topic, VALUE, headers=DECISION)
            if n % BATCH == BATCH - 1:
                produce(audit_topic, b"[" + b",".join(entries) + b"]")

    return {
        "no headers": plain,
        "decision headers": decision,
        "one compact header": compact,
        "+ audit per event": audit_per_event,
        "+ audit per batch": audit_per_batch,
    }


def _run(
    settings: dict[str, Any], shape: Callable[[Any, int], None], records: int
) -> tuple[float, float, float]:
    """(all, Python thread, librdkafka) CPU µs per record for one shape, produce through flush."""
    producer = Producer(settings)
    produce = producer.produce

    def produce_retrying(*args: Any, **kwargs: Any) -> None:
        while True:
            try:
                produce(*args, **kwargs)
                return
            except BufferError:
                producer.poll(0.01)

    producer.poll(0)
    me = threading.get_native_id()
    times, (mine, rdk) = os.times(), thread_cpu(me)
    shape(produce_retrying, records)
    if producer.flush(120):
        raise RuntimeError("records not acknowledged within 120 s")
    after, (mine_after, rdk_after) = os.times(), thread_cpu(me)
    cpu = (after.user + after.system) - (times.user + times.system)
    return cpu / records * 1e6, (mine_after - mine) / records * 1e6, (rdk_after - rdk) / records * 1e6


def _log_bytes(port: int, topic: str) -> int:
    """What the broker has written to disk for `topic` so far: the sizes of its partitions' segments."""
    data = localbroker.status(port=port).log_path.parent / "data"
    return sum(f.stat().st_size for d in data.glob(f"{topic}-*") for f in d.glob("*.log"))


def sweep(broker: Any, port: int, records: int, rounds: int) -> dict[str, tuple[float, float, float, float]]:
    """(all, Python, librdkafka CPU µs per record, stored bytes per record) per compression and linger."""
    from loadtests.generator import payloads

    values = payloads(min(records, 50_000))
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    base = producer_settings(load_config().kafka, broker.bootstrap)
    best: dict[str, tuple[float, float, float, float]] = {}
    for round_number in range(1, rounds + 1):
        for compression in ("none", "lz4", "zstd"):
            for linger in (0, 5, 20):
                name = f"compression {compression}, linger.ms {linger}"
                topic = f"produce-cost-{compression}-{linger}-{round_number}-{time.time_ns()}"
                for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
                    future.result(30)

                def shape(produce: Any, count: int, topic: str = topic) -> None:
                    for n in range(count):
                        produce(topic, values[n % len(values)], headers=DECISION)

                settings = {**base, "compression.type": compression, "linger.ms": linger}
                cpu, mine, rdk = _run(settings, shape, records)
                time.sleep(1)  # let the broker write its segments
                stored = _log_bytes(port, topic) / records
                if name not in best or cpu < best[name][0]:
                    best[name] = (cpu, mine, rdk, stored)
                print(
                    f"round {round_number}: {name:30} {cpu:6.2f} µs/record, {stored:7.1f} bytes", flush=True
                )
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=19099, help="the embedded broker's port")
    parser.add_argument(
        "--producer-settings", action="store_true", help="sweep compression and linger.ms instead"
    )
    args = parser.parse_args(argv)
    broker = localbroker.start(port=args.port)
    if args.producer_settings:
        try:
            swept = sweep(broker, args.port, args.records, args.rounds)
        finally:
            if not broker.reused:
                localbroker.stop(args.port)
        print(f"\nbest of {args.rounds} rounds, {args.records:,} bench payloads; per record:")
        print(f"{'settings':32}{'CPU µs':>8}{'python':>9}{'librdkafka':>12}{'stored bytes':>14}")
        for name, (cpu, mine, rdk, stored) in swept.items():
            print(f"{name:32}{cpu:8.2f}{mine:9.2f}{rdk:12.2f}{stored:14.1f}")
        print(
            orjson.dumps({name: [round(v, 2) for v in figures] for name, figures in swept.items()}).decode()
        )
        return 0
    try:
        topic, audit_topic = f"produce-cost-{time.time_ns()}", f"produce-cost-audit-{time.time_ns()}"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in (topic, audit_topic)]).values():
            future.result(30)
        settings = producer_settings(load_config().kafka, broker.bootstrap)
        shapes = _shapes(topic, audit_topic)
        best: dict[str, tuple[float, float, float]] = {}
        for round_number in range(1, args.rounds + 1):
            for name, shape in shapes.items():
                figures = _run(settings, shape, args.records)
                if name not in best or figures[0] < best[name][0]:
                    best[name] = figures
                print(f"round {round_number}: {name:20} {figures[0]:6.2f} µs/record", flush=True)
    finally:
        if not broker.reused:
            localbroker.stop(args.port)
    print(
        f"\nbest of {args.rounds} rounds, {args.records:,} records of {len(VALUE)} bytes, CPU µs per record:"
    )
    print(f"{'shape':22}{'all':>8}{'python':>9}{'librdkafka':>12}")
    for name, (cpu, mine, rdk) in best.items():
        print(f"{name:22}{cpu:8.2f}{mine:9.2f}{rdk:12.2f}")
    print(orjson.dumps({name: round(figures[0], 2) for name, figures in best.items()}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
