"""A first measurement of the gateway on this machine: pure pipeline cost, then the engine on Kafka.

    python -m loadtests.first_look [--payloads N]

Not the full side-by-side benchmark (that is `loadtests.bench`, still to come); it
measures what the architecture rests on: the per-event CPU of the pure pipeline,
and the events/s of one engine process against the local broker, end to end.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from loadtests.bench.topology import gateway_config
from streams.config import load_config
from streams.devtools import localbroker
from streams.devtools.traffic import TrafficGenerator
from streams.kafka.topics import apply_topics
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.service.wiring import build_gateway


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_pipeline(payloads: list[bytes], pipeline: Pipeline) -> tuple[int, float]:
    events = 0
    started = time.perf_counter()
    for offset, payload in enumerate(payloads):
        events += len(pipeline.process(payload, Source("bench", 0, offset)))
    return events, time.perf_counter() - started


def measure_engine(payloads: list[bytes], port: int) -> tuple[float, float, int]:
    bootstrap = localbroker.start(port=port).bootstrap
    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}"
    config = gateway_config(prefix, f"{prefix}.ingest", partitions=1)
    apply_topics(config, bootstrap)
    ingest = config.topics.ingest[0]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    for payload in payloads:
        while True:
            try:
                producer.produce(ingest, payload)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    # As `run` wires it (streams/service/wiring.py): subject-key store and erasure topic included.
    gateway = build_gateway(
        config, bootstrap, development_keys(config.key_regions()), worker_id="w1", poll_timeout=0.1
    )
    engine = gateway.engine
    stop = threading.Event()
    thread = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    thread.start()
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": config.kafka.group_id})
    while True:
        [tp] = probe.committed([TopicPartition(ingest, 0)], timeout=10)
        if tp.offset >= len(payloads):
            break
        time.sleep(0.05)
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    stop.set()
    thread.join(30)
    probe.close()
    gateway.close()
    return elapsed, cpu, engine.stats.events_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=19092)
    args = parser.parse_args()
    payloads = list(TrafficGenerator(seed=1).payloads(args.payloads))
    size = sum(map(len, payloads)) / len(payloads)
    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    print(f"payloads: {len(payloads)}, mean {size:.0f} bytes")
    # The first pass fills the geolocation and pseudonym caches; the second shows the steady state.
    for label in ("cold caches", "warm caches"):
        events, seconds = measure_pipeline(payloads, pipeline)
        rate = events / seconds
        print(
            f"pure pipeline, {label}: {events} events, {seconds / events * 1e6:.1f} µs/event, {rate:,.0f}/s"
        )
    elapsed, cpu, outputs = measure_engine(payloads, args.port)
    print(
        f"engine on local Kafka: {events / elapsed:,.0f} events/s "
        f"({len(payloads) / elapsed:,.0f} payloads/s), "
        f"{outputs} records written, {cpu / events * 1e6:.1f} µs CPU/event in the gateway process"
    )


if __name__ == "__main__":
    main()
