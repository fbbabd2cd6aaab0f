"""One contender in a process of its own, so that its CPU (librdkafka's threads included) is its alone.

    python -m loadtests.bench.worker {passthrough,gateway,naive} --bootstrap B --input T ...

It runs until it has done `--expected` input records (0: until its stdin closes),
sampling its progress and its CPU (os.times: user + system of every thread) every
few milliseconds, then writes its samples and what it counted to `--report` as JSON.
Each sample also splits the CPU by thread (/proc/self/task): the Python thread that
does the contender's work, and librdkafka's threads (named rdk:*).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

Counter = Callable[[], int]


_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(worker_thread: int | None) -> tuple[float, float]:
    """CPU seconds so far of one thread (by native id) and of librdkafka's threads (rdk:*).

    From /proc/self/task/<tid>/stat: its name in parentheses, then utime and stime in clock
    ticks (fields 14 and 15). A thread that ended between listing and reading counts for nothing.
    """
    worker = librdkafka = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                text = stat.read()
        except FileNotFoundError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        if int(tid) == worker_thread:
            worker += ticks
        elif name.startswith("rdk:"):
            librdkafka += ticks
    return worker / _TICKS, librdkafka / _TICKS


class Sampler:
    """Samples (wall time, records done, CPU seconds: every thread, the worker's, librdkafka's)."""

    def __init__(self, count: Counter, interval: float = 0.01) -> None:
        self._count = count
        self._interval = interval
        self.samples: list[tuple[float, int, float, float, float]] = []
        self.done = threading.Event()
        self.worker_thread: int | None = None  # the native id of the thread doing the work

    def run(self, expected: int, stop: threading.Event) -> None:
        last = -1
        while not stop.is_set():
            done = self._count()
            if done != last:
                times = os.times()
                worker, librdkafka = thread_cpu(self.worker_thread)
                self.samples.append((time.time(), done, times.user + times.system, worker, librdkafka))
                last = done
                if expected and done >= expected:
                    break
            time.sleep(self._interval)
        self.done.set()


def _control(args: argparse.Namespace, stop: threading.Event) -> None:
    """Say ready, wait for "go" on stdin (so workers of a group start together); stop when it closes."""
    go = threading.Event()

    def listen() -> None:
        for line in sys.stdin:
            if line.strip() == "go":
                go.set()
        go.set()
        stop.set()

    threading.Thread(target=listen, daemon=True).start()
    with open(args.report + ".ready", "w"):
        pass
    go.wait()


_REPORT_PATH: list[str] = []


def _report(role: str, sampler: Sampler, **counted: Any) -> None:
    # To a file: a faust worker redirects stdout into its logger.
    with open(_REPORT_PATH[0], "wb") as report:
        report.write(orjson.dumps({"role": role, "samples": sampler.samples, **counted}))


def run_passthrough(args: argparse.Namespace) -> None:
    """The ceiling: consume a batch, produce every value unchanged, flush, commit. No parsing."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    from loadtests.bench.topology import gateway_config
    from streams.kafka.clients import consumer_settings, producer_settings

    kafka = gateway_config(args.prefix, args.input, args.partitions).kafka
    consumer = Consumer(consumer_settings(kafka, args.bootstrap))
    producer = Producer(producer_settings(kafka, args.bootstrap))
    done = [0]
    sampler = Sampler(lambda: done[0])
    sampler.worker_thread = threading.get_native_id()
    stop = threading.Event()
    _control(args, stop)
    consumer.subscribe([args.input])
    threading.Thread(target=sampler.run, args=(args.expected, stop), daemon=True).start()
    output, produce = args.output, producer.produce
    try:
        while not sampler.done.is_set():
            records = consumer.consume(kafka.batch_size, kafka.poll_timeout_ms / 1000)
            if not records:
                producer.poll(0)
                continue
            offsets: dict[tuple[str, int], int] = {}
            for record in records:
                if record.error() is not None:
                    raise RuntimeError(f"consumer error: {record.error()}")
                while True:
                    try:
                        produce(output, record.value(), record.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                topic, partition, offset = record.topic(), record.partition(), record.offset()
                assert topic is not None and partition is not None and offset is not None
                offsets[(topic, partition)] = offset + 1
            if producer.flush(60):
                raise RuntimeError("passthrough outputs not acknowledged")
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
            )
            done[0] += len(records)
    finally:
        consumer.close()
    _report("passthrough", sampler, records_in=done[0])


def run_gateway(args: argparse.Namespace) -> None:
    """The gateway as `residency-gateway run` wires it: engine, transactions, subject-key store."""
    from loadtests.bench.topology import gateway_config
    from streams.keys.ring import development_keys
    from streams.service.wiring import build_gateway

    config = gateway_config(args.prefix, args.input, args.partitions, args.delivery)
    gateway = build_gateway(
        config, args.bootstrap, development_keys(config.key_regions()), worker_id=args.worker_id
    )
    engine = gateway.engine
    stats = engine.stats
    sampler = Sampler(lambda: stats.records_in)
    stop = threading.Event()
    _control(args, stop)
    failure: list[BaseException] = []

    def target() -> None:
        sampler.worker_thread = threading.get_native_id()
        try:
            engine.run(stop)
        except BaseException as error:
            failure.append(error)
            stop.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    sampler.run(args.expected, stop)
    stop.set()
    thread.join(60)
    gateway.close()
    if failure:
        raise RuntimeError(f"the engine failed: {failure[0]!r}") from failure[0]
    _report(
        "gateway",
        sampler,
        records_in=stats.records_in,
        events_out=stats.events_out,
        audit_records=stats.audit_records,
        aborted_transactions=stats.aborted_transactions,
        batches=stats.batches,
    )


def run_naive(args: argparse.Namespace) -> None:
    """The floor: a faust agent that parses each event with orjson and awaits a send per event."""
    import faust

    done = [0]
    sampler = Sampler(lambda: done[0])
    sampler.worker_thread = threading.get_native_id()  # faust's event loop runs in the main thread
    threading.Thread(target=sampler.run, args=(args.expected, threading.Event()), daemon=True).start()
    datadir = tempfile.mkdtemp(prefix="bench-naive-")
    app = faust.App(
        f"{args.prefix}-naive",
        broker=f"kafka://{args.bootstrap}",
        autodiscover=False,
        web_enabled=False,
        datadir=datadir,
        topic_replication_factor=1,
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(args.input, key_type=bytes, value_type=bytes, value_serializer="raw")
    sink = app.topic(args.output, key_type=bytes, value_type=bytes, value_serializer="raw")

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for value in stream:
            try:
                out = orjson.dumps(orjson.loads(value))
            except orjson.JSONDecodeError:
                out = value  # not JSON (enriched TSV, garbage): forwarded as it came
            await sink.send(value=out)
            if done[0] + 1 >= args.expected:
                # The last one counts once every send is acknowledged: the clock stops there.
                await app.producer.flush()
            done[0] += 1
            if done[0] >= args.expected:
                sampler.done.wait(5)
                _report("naive", sampler, records_in=done[0])
                os._exit(0)  # faust's shutdown takes seconds and measures nothing

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("role", choices=("passthrough", "gateway", "naive"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--prefix", required=True, help="this contender's topic prefix and group")
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--output", default="", help="the output topic (passthrough, naive)")
    parser.add_argument("--expected", type=int, default=0, help="stop after this many input records")
    parser.add_argument("--worker-id", default="bench-1")
    parser.add_argument("--report", required=True, help="where to write the JSON report")
    parser.add_argument("--delivery", default="exactly_once", choices=("exactly_once", "at_least_once"))
    args = parser.parse_args()
    _REPORT_PATH.append(args.report)
    {"passthrough": run_passthrough, "gateway": run_gateway, "naive": run_naive}[args.role](args)


if __name__ == "__main__":
    main()
