"""The side-by-side benchmark (issue 6): ceiling, gateway and floor on one broker and one input.

    python -m loadtests.bench [--events N] [--quick] [--port 19098] [--partitions 4]

On a broker of its own it pre-loads one input topic with realistic traffic
(loadtests/generator.py), then runs each contender in a process of its own over
that same input: (a) a raw confluent-kafka passthrough, the ceiling; (b) the gateway
as production runs it (GatewayEngine, exactly-once transactions, default policy);
(c) a naive faust agent with a per-event await, the floor. Then two gateway
processes in one group, for the scale factor, and end-to-end latency at a fixed
offered load of half and of a quarter of the measured rate, exactly once and at
least once, each on a fresh gateway warmed first by a burst of payloads (2,000 in
a quick run, 5,000 in a full one), so its caches hold what a running worker's do.

An "event" in the figures and the JSON is one input record (one collector payload),
the unit all three contenders share; the gateway's figures per decoded event (a
batch payload holds several) are in the table too. Every contender's outputs are
read back and counted: a run that lost or duplicated anything prints no figures and
exits 1. Targets not met still exit 0: this is a measurement.

The last line of stdout is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from loadtests import floor, generator
from loadtests.bench import latency, topology
from loadtests.bench.contenders import (
    WorkerFailed,
    WorkerProcess,
    kill_every_worker,
    samples,
    start_together,
)
from loadtests.bench.figures import (
    TARGETS,
    Rate,
    group_rate,
    percentile,
    ratio,
    steady_rate,
    table,
    targets_met,
)
from loadtests.bench.readback import Tally, count_records, tally_records, wait_assigned, wait_committed
from streams.devtools import localbroker
from streams.devtools.traffic import TrafficGenerator

DEFAULT_EVENTS = 100_000
QUICK_EVENTS = 12_000


class LostEvents(Exception):
    """A contender's outputs don't match its input: no figure from that run."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, bootstrap: str, events: int, partitions: int, logs: Path, seed: int) -> None:
        self.bootstrap = bootstrap
        self.events = events
        self.partitions = partitions
        self.logs = logs
        self.seed = seed
        self.run = f"b{uuid.uuid4().hex[:6]}"
        self.ingest = f"{self.run}.ingest"
        self.timeout = max(120.0, events / 400)
        self.split: list[int] = []  # ingest partitions each worker of the scaling run owned
        self.written = Tally()  # what the last gateway run wrote, read back

    def preload(self) -> tuple[list[bytes], Counter[str]]:
        topology.create_topics(self.bootstrap, [self.ingest], self.partitions)
        payloads = generator.payloads(self.events, seed=self.seed)
        report = generator.send(self.bootstrap, self.ingest, payloads)
        say(f"pre-loaded {report.records:,} payloads into {self.ingest} ({report.rate:,.0f}/s)")
        say("predicting the gateway's outputs with the pure pipeline")
        return payloads, topology.expected_by_role(payloads, self.partitions)

    def copy_contender(self, role: str) -> dict[str, Any]:
        """The passthrough or the naive agent: one output record per input record."""
        prefix = f"{self.run}-{role}"
        output = f"{prefix}.out"
        topology.create_topics(self.bootstrap, [output], self.partitions)
        say(f"running {role}")
        worker = self._worker(role, prefix, output=output, expected=self.events)
        if role == "passthrough":
            start_together([worker])
        report = worker.result(self.timeout)
        written = count_records(self.bootstrap, [output])[output]
        if written != self.events:
            raise LostEvents(f"{role}: {written:,} records written for {self.events:,} inputs")
        topology.delete_run_topics(self.bootstrap, prefix)  # counted: later runs needn't share the broker
        return report

    def gateway(
        self, expected: Counter[str], payloads: list[bytes], workers: int = 1, tag: str = ""
    ) -> list[dict[str, Any]]:
        prefix = f"{self.run}-gw{workers}{tag}"
        ingest = self.ingest
        if workers > 1:
            ingest = f"{self.run}.ingest-{workers}"
            topology.create_topics(self.bootstrap, [ingest], self.partitions)
        config = topology.gateway_config(prefix, ingest, self.partitions)
        topology.create_gateway_topics(config, self.bootstrap)
        say(f"running the gateway, {workers} worker process{'es' if workers > 1 else ''}")
        if workers == 1:
            worker = self._worker("gateway", prefix, expected=self.events)
            start_together([worker])
            reports = [worker.result(self.timeout)]
        else:
            # Held back in an open transaction until both workers own partitions: otherwise the
            # first to join takes all of them and does most of the work before the rebalance.
            held, ends = generator.send_held(self.bootstrap, ingest, payloads)
            running = [
                self._worker("gateway", prefix, worker_id=f"bench-{i}", input_topic=ingest)
                for i in range(1, workers + 1)
            ]
            start_together(running)
            self.split = wait_assigned(self.bootstrap, prefix, ingest, workers, timeout=120)
            say(f"ingest partitions per worker: {'/'.join(map(str, self.split))}")
            held.commit_transaction(60)
            wait_committed(self.bootstrap, prefix, ingest, self.timeout, ends)
            for worker in running:
                worker.stop()
            reports = [worker.result(60) for worker in running]
        records_in = sum(r["records_in"] for r in reports)
        if records_in != self.events:
            raise LostEvents(f"gateway x{workers}: {records_in:,} input records done for {self.events:,}")
        tallies = tally_records(
            self.bootstrap, topology.output_topics(config), audit_topic=config.topics.audit
        )
        self.written = Tally(
            sum(t.records for t in tallies.values()),
            sum(t.value_bytes for t in tallies.values()),
            sum(t.header_bytes for t in tallies.values()),
        )
        # The audit topic is counted by its entries: one per event, in one record per batch and partition.
        got = Counter(
            {
                topology.role(topic): t.audit_entries if topic == config.topics.audit else t.records
                for topic, t in tallies.items()
            }
        )
        if +got != +expected:
            differ = sorted(r for r in set(got) | set(expected) if got[r] != expected[r])
            detail = ", ".join(f"{r}: {got[r]} (expected {expected[r]})" for r in differ)
            raise LostEvents(f"gateway x{workers}: outputs differ from the pure pipeline's: {detail}")
        topology.delete_run_topics(self.bootstrap, prefix)
        return reports

    def deciding_only(self, payloads: list[bytes]) -> dict[str, Any]:
        """The gateway on the same input under a policy that transfers nothing: every event decided,
        written home and audited, no copy made. What the decisions alone cost, beside the copies."""
        written = self.written  # the table's bytes and records stay the full gateway's
        with topology.overrides({"transfers": False}):
            expected = topology.expected_by_role(payloads, self.partitions)
            say("the gateway again, deciding only (no region transfers anything)")
            [report] = self.gateway(expected, payloads, tag="-decide")
        self.written = written
        return report

    def latency(
        self,
        rate: float,
        seconds: float,
        warmup: float,
        delivery: str = "exactly_once",
        warm_payloads: int = 20,
    ) -> tuple[list[float], float]:
        tag = f"lat-{delivery.split('_')[0]}-{round(rate)}"
        prefix = f"{self.run}-{tag}"
        ingest = f"{self.run}.{tag}-ingest"
        topology.create_topics(self.bootstrap, [ingest], self.partitions)
        config = topology.gateway_config(prefix, ingest, self.partitions, delivery)
        topology.create_gateway_topics(config, self.bootstrap)
        say(f"measuring latency, {delivery.replace('_', ' ')}")
        traffic = TrafficGenerator(seed=self.seed + 1, mix=generator.BENCH_MIX)

        def payloads(count: int) -> Iterator[bytes]:
            return traffic.payloads(count)

        worker = WorkerProcess(
            "gateway", bootstrap=self.bootstrap, input_topic=ingest, prefix=prefix,
            partitions=self.partitions, logs=self.logs, delivery=delivery,
        )  # fmt: skip
        start_together([worker])
        try:
            result = latency.measure(
                self.bootstrap,
                ingest,
                config.topics.audit,
                payloads,
                rate,
                seconds,
                warmup,
                say,
                warm_payloads,
            )
        finally:
            worker.stop()
        report = worker.result(60)
        topology.delete_topics(self.bootstrap, [ingest])
        topology.delete_run_topics(self.bootstrap, prefix)
        if report.get("aborted_transactions"):
            say(f"latency run: {report['aborted_transactions']} transactions aborted and retried")
        return result

    def _worker(
        self,
        role: str,
        prefix: str,
        output: str = "",
        expected: int = 0,
        worker_id: str = "bench-1",
        input_topic: str | None = None,
    ) -> WorkerProcess:
        return WorkerProcess(
            role, bootstrap=self.bootstrap, input_topic=input_topic or self.ingest, prefix=prefix,
            partitions=self.partitions, logs=self.logs, output=output, expected=expected,
            worker_id=worker_id,
        )  # fmt: skip


def measure(args: argparse.Namespace, bootstrap: str, logs: Path) -> tuple[str, dict[str, Any]]:
    bench = Bench(bootstrap, args.events, args.partitions, logs, args.seed)
    try:
        return _measure(bench, args)
    finally:
        kill_every_worker()
        topology.delete_run_topics(bootstrap, bench.run)


def _measure(bench: Bench, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    payloads, expected = bench.preload()
    mean_size = sum(map(len, payloads)) / len(payloads)
    sizes = [float(len(p)) for p in payloads]
    decoded = expected["audit"]  # one audit entry per decoded event

    passthrough = steady_rate(samples(bench.copy_contender("passthrough")))
    [gateway_report] = bench.gateway(expected, payloads)
    gateway = steady_rate(samples(gateway_report))
    naive = steady_rate(samples(bench.copy_contender("naive")))
    two = bench.gateway(expected, payloads, workers=2)
    deciding = steady_rate(samples(bench.deciding_only(payloads)))
    say("measuring the floor (parse, serialize, produce; no broker)")
    floor_us = floor.measure(payloads).us_per_payload
    del payloads
    group = group_rate([samples(r) for r in two])
    # Half and a quarter of the measured rate, exactly once and at least once, each on a gateway
    # warmed by a burst first (its caches filled, as a running worker's are).
    points: dict[str, tuple[list[float], float]] = {}
    for load, fraction in (("half", 2), ("quarter", 4)):
        for delivery in ("exactly_once", "at_least_once"):
            points[f"{load}, {delivery.replace('_', ' ')}"] = bench.latency(
                gateway.per_second / fraction, args.latency_seconds, args.warmup_seconds, delivery,
                warm_payloads=args.warm_payloads,
            )  # fmt: skip
    latencies, offered = points["half, exactly once"]

    events_per_record = decoded / args.events
    written = bench.written  # the one-worker run's outputs, read back
    summary: dict[str, Any] = {
        "gateway_eps": round(gateway.per_second, 1),
        "passthrough_eps": round(passthrough.per_second, 1),
        "naive_eps": round(naive.per_second, 1),
        "gateway_cpu_us_per_event": round(gateway.cpu_us_per_record, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "ratio_vs_passthrough": round(ratio(gateway.per_second, passthrough.per_second), 3),
        "ratio_vs_naive": round(ratio(gateway.per_second, naive.per_second), 2),
        "scale_factor_2_workers": round(ratio(group.per_second, gateway.per_second), 2),
        "passthrough_cpu_us_per_event": round(passthrough.cpu_us_per_record, 1),
        "cpu_ratio_vs_passthrough": round(ratio(gateway.cpu_us_per_record, passthrough.cpu_us_per_record), 2),
        "floor_us_per_payload": round(floor_us, 1),
        # The same gateway and input, no copy made: what deciding alone costs, against the target.
        "deciding_only_cpu_us_per_event": round(deciding.cpu_us_per_record, 1),
        "gateway_python_cpu_us_per_event": round(gateway.us_per_record(gateway.worker_thread_seconds), 1),
        "gateway_librdkafka_cpu_us_per_event": round(gateway.us_per_record(gateway.librdkafka_seconds), 1),
        "records_written_per_event": round(written.records / args.events, 2),
        "header_bytes_per_event": round(written.header_bytes / args.events, 1),
        "value_bytes_per_event": round(written.value_bytes / args.events, 1),
        "latency_ms": {
            name: {
                "p50": round(percentile(values, 0.50), 1),
                "p99": round(percentile(values, 0.99), 1),
                "max": round(max(values), 1),
                "offered_per_s": round(rate_offered, 1),
            }
            for name, (values, rate_offered) in points.items()
        },
    }
    summary["targets_met"] = targets_met(summary)
    if not all(bench.split):
        # One worker owned every ingest partition: the second delivered nothing, whatever the factor says.
        summary["targets_met"]["scale_factor_2_workers"] = False

    def contender(name: str, r: Rate) -> list[tuple[str, str, str]]:
        return [
            (f"{name}: events/s, one worker", f"{r.per_second:,.0f}", ""),
            (f"{name}: CPU µs/event in the worker", f"{r.cpu_us_per_record:.1f}", ""),
        ]

    def target(key: str) -> str:
        met = summary["targets_met"].get(key)
        return f"{TARGETS[key][1]} ({'met' if met else 'NOT met'})"

    aborted = sum(r.get("aborted_transactions", 0) for r in [gateway_report, *two])
    rows = [
        ("input", f"{args.events:,} payloads, {decoded:,} decoded events, {args.partitions} partitions", ""),
        ("payload bytes: mean / p50 / p99", f"{mean_size:.0f} / {percentile(sizes, 0.5):.0f} / "
         f"{percentile(sizes, 0.99):.0f}", ""),
        *contender("(a) passthrough", passthrough),
        *contender("(b) gateway", gateway),
        ("(b) gateway: CPU µs/event, its Python thread",
         f"{summary['gateway_python_cpu_us_per_event']:.1f}", ""),
        ("(b) gateway: CPU µs/event, librdkafka's threads",
         f"{summary['gateway_librdkafka_cpu_us_per_event']:.1f}", ""),
        ("(b) gateway: records / header bytes / value bytes written per event",
         f"{summary['records_written_per_event']:.2f} / {summary['header_bytes_per_event']:.0f} / "
         f"{summary['value_bytes_per_event']:.0f}", ""),
        ("(b) gateway: decoded events/s", f"{gateway.per_second * events_per_record:,.0f}", ""),
        ("(b) gateway: CPU µs per decoded event", f"{gateway.cpu_us_per_record / events_per_record:.1f}", ""),
        *contender("(c) naive faust agent", naive),
        ("b/a, events/s", f"{summary['ratio_vs_passthrough']:.3f}", ""),
        ("b/a, CPU per event", f"{summary['cpu_ratio_vs_passthrough']:.2f}",
         target("cpu_ratio_vs_passthrough")),
        ("floor: parse, serialize, produce, µs/event", f"{summary['floor_us_per_payload']:.1f}", ""),
        ("(b) gateway deciding only (nothing exported): CPU µs/event",
         f"{summary['deciding_only_cpu_us_per_event']:.1f}", "the decisions alone, no copies"),
        ("b/c", f"{summary['ratio_vs_naive']:.2f}", target("ratio_vs_naive")),
        ("gateway CPU µs/event (JSON)", f"{summary['gateway_cpu_us_per_event']:.1f}",
         target("gateway_cpu_us_per_event")),
        ("2 gateway workers, one group: events/s", f"{group.per_second:,.0f}", ""),
        ("2 gateway workers: ingest partitions each", "/".join(map(str, bench.split)), ""),
        ("scale factor, 2 workers", f"{summary['scale_factor_2_workers']:.2f}",
         target("scale_factor_2_workers")),
        ("latency: offered load, events/s", f"{offered:,.0f} (half of {gateway.per_second:,.0f})", ""),
        ("latency: p50 ms", f"{summary['p50_ms']:.1f}", ""),
        ("latency: p99 ms", f"{summary['p99_ms']:.1f}", target("p99_ms")),
        ("latency: max ms, inputs measured", f"{max(latencies):.1f}, {len(latencies):,}", ""),
        *[
            (f"latency, {name}: p50 / p99 / max ms", f"{p['p50']:.0f} / {p['p99']:.0f} / {p['max']:.0f} "
             f"at {p['offered_per_s']:,.0f}/s", "")
            for name, p in summary["latency_ms"].items()
        ],
        ("verified", "every contender's outputs counted and complete", ""),
        ("gateway transactions aborted and retried", f"{aborted}", ""),
    ]  # fmt: skip
    return table(rows), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, default=None, help=f"input payloads (default {DEFAULT_EVENTS:,})"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"a smoke test: {QUICK_EVENTS:,} payloads, short latency run"
    )
    parser.add_argument("--port", type=int, default=19098, help="the benchmark's own broker")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="the gateway's kafka.batch_size (default: the policy's)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-seconds", type=float, default=None)
    parser.add_argument("--keep-broker", action="store_true", help="leave the broker running afterwards")
    args = parser.parse_args(argv)
    args.events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    args.latency_seconds = args.latency_seconds or (4.0 if args.quick else 20.0)
    args.warmup_seconds = 1.0 if args.quick else 3.0
    args.warm_payloads = 2000 if args.quick else 5000
    if args.batch_size is not None:
        topology.set_overrides({"kafka": {"batch_size": args.batch_size}})
    if args.events < 1000 or args.partitions < 2:
        parser.error("--events must be at least 1000 and --partitions at least 2 (the scaling run needs two)")
    started = time.monotonic()
    broker = localbroker.start(port=args.port)
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        text, summary = measure(args, broker.bootstrap, logs)
    except (LostEvents, WorkerFailed, RuntimeError, TimeoutError, ValueError) as error:
        print(f"bench: {error} (worker logs in {logs})", file=sys.stderr)
        return 1
    finally:
        kill_every_worker()
        if not broker.reused and not args.keep_broker:
            localbroker.stop(args.port)
    shutil.rmtree(logs, ignore_errors=True)
    say(f"whole run: {time.monotonic() - started:.0f}s")
    print(text)
    print(
        orjson.dumps(
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
