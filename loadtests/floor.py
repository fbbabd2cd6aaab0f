"""The CPU floor of a gateway that reads every event: what parsing and writing alone cost, per payload.

    python -m loadtests.floor [--payloads N]

The benchmark's traffic goes through the real pipeline once, to learn what the gateway
must write for it (how many records, which bytes, which headers, which audit records).
Then only the steps no design that reads each event can skip are timed, one at a time,
each over the whole input:

- parsing each JSON payload (orjson.loads; text payloads are split on their separator);
- serializing each record the gateway writes that is not the input's own bytes
  (orjson.dumps of the decoded output), and each event's audit entry, gathered into one
  audit record per batch as the engine writes them;
- handing each output and audit record to librdkafka (`Producer.produce`, with the
  record's headers, into a local queue; no broker, so none of librdkafka's own sending
  is counted).

The sum is a lower bound on the gateway's CPU per payload: it does no classification,
no transform and no value scan, and it leaves out librdkafka's threads and the commit.
Issue 6 asks for at most 15 µs per event and for 70% of a consume→produce passthrough,
which spends ~8-9 µs per record in all; the floor says how far any per-event Python
design is from those before it decides anything.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Producer

from loadtests.generator import payloads as bench_payloads
from streams.audit import audit_records
from streams.config import load_config
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline

CPU_TARGET_US = 15.0  # issue 6: worker CPU per event


@dataclass(frozen=True)
class Step:
    name: str
    us_per_payload: float


@dataclass(frozen=True)
class Floor:
    payloads: int
    events: int
    records_written: int  # outputs and audit records
    steps: tuple[Step, ...]

    @property
    def us_per_payload(self) -> float:
        return sum(step.us_per_payload for step in self.steps)


def _timed(work: Callable[[], object], payloads: int, repeats: int = 3) -> float:
    """µs per payload of the fastest of `repeats` runs of `work` (the least disturbed by the rest)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / payloads * 1e6


def measure(raw_payloads: Sequence[bytes]) -> Floor:
    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    written: list[tuple[str, bytes, bytes | None, Any]] = []
    rebuilt: list[object] = []  # decoded forms of the outputs that aren't the input's own bytes
    # The audit entries of each batch the engine would make (kafka.batch_size payloads, one
    # partition): one audit record per batch, or more for a batch too large for one record.
    batches: list[list[dict[str, Any]]] = []
    events = 0
    for offset, raw in enumerate(raw_payloads):
        if offset % config.kafka.batch_size == 0:
            batches.append([])
        for result in pipeline.process(raw, Source("floor", 0, offset)):
            events += 1
            batches[-1].append(result.audit)
            for out in result.outputs:
                written.append((out.topic, out.value, out.key, out.headers))
                if out.value is not raw and out.value[:1] in (b"{", b"["):
                    rebuilt.append(orjson.loads(out.value))
    json_payloads = [raw for raw in raw_payloads if raw[:1] == b"{" and _parses(raw)]
    text_payloads = [raw for raw in raw_payloads if raw[:1] != b"{"]
    count = len(raw_payloads)
    producer = Producer(
        {
            # Nothing listens here: records stay in librdkafka's queue, and only produce() is timed.
            "bootstrap.servers": "127.0.0.1:9",
            "linger.ms": 600_000,
            "message.timeout.ms": 900_000,  # must exceed linger.ms
            "queue.buffering.max.messages": 10_000_000,
            "queue.buffering.max.kbytes": 16_000_000,
            "log_level": 0,
        }
    )

    def audit_records_of_batches() -> list[tuple[bytes, bytes]]:
        return [
            record for batch in batches for record in audit_records("floor", 0, batch, pipeline.policy_hash)
        ]

    audit_written = audit_records_of_batches()

    def produce_all() -> None:
        produce = producer.produce
        for topic, value, key, headers in written:
            produce(topic, value, key, headers=headers)
        for key, value in audit_written:
            produce("floor.audit", value, key)
        producer.purge()

    steps = (
        Step("parse each payload", _timed(lambda: [orjson.loads(raw) for raw in json_payloads], count)
             + _timed(lambda: [raw.split(b"\t") for raw in text_payloads], count)),
        Step("serialize each rebuilt output", _timed(lambda: [orjson.dumps(o) for o in rebuilt], count)),
        Step("serialize the audit entries, a record per batch", _timed(audit_records_of_batches, count)),
        Step("produce() each output and audit record", _timed(produce_all, count)),
    )  # fmt: skip
    return Floor(count, events, len(written) + len(audit_written), steps)


def _parses(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def report(floor: Floor) -> str:
    lines = [
        f"input: {floor.payloads:,} payloads, {floor.events:,} events, "
        f"{floor.records_written:,} records written "
        f"({floor.records_written / floor.payloads:.2f} per payload)",
    ]
    lines += [f"{step.name:42s} {step.us_per_payload:6.1f} µs/payload" for step in floor.steps]
    lines.append(f"{'floor (their sum)':42s} {floor.us_per_payload:6.1f} µs/payload")
    lines.append(f"{'issue 6 target':42s} {CPU_TARGET_US:6.1f} µs/event")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payloads", type=int, default=20_000)
    args = parser.parse_args(argv)
    floor = measure(bench_payloads(args.payloads))
    print(report(floor))
    steps = {step.name: round(step.us_per_payload, 2) for step in floor.steps}
    print(orjson.dumps({"floor_us_per_payload": round(floor.us_per_payload, 2), **steps}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
