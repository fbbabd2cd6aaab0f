"""The tuning sweep: what one gateway worker sustains, and its latency, under the settings a user
tunes; writes the figures and plots of docs/tuning.md.

    python -m loadtests.sweep [--quick] [--payloads N] [--port 19097] [--out docs/tuning]

On a broker of its own (or the one already on --port) it runs, each on a fresh worker
process and fresh topics, as the bench does (loadtests/bench/):

- throughput points: one worker, saturated, over N pre-loaded payloads, under one change
  to the default policy each (traffic of single events or of batches, nothing exported,
  at-least-once, compression, batch size). Every output is read back and checked against
  the pure pipeline's prediction; a point that lost or duplicated anything stops the sweep.
- latency points: a fixed offered load, a fraction of the first point's rate, exactly-once
  and at-least-once, with smaller batches and shorter time budgets.

It writes `sweep.json` (every figure, with the command and the machine), `results.md`
(the tables) and three plots (`throughput.png`, `latency.png`, `cpu.png`) to --out; with
the default --out (docs/tuning/) it also rewrites the tables of docs/tuning.md, between
their `<!-- sweep:NAME -->` markers.
Throughput points run in rounds (3), and each keeps its median run. A full run takes ~15
minutes here; --quick (one round, ~1.5 minutes) is the smoke test.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from loadtests import generator
from loadtests.bench import latency, topology
from loadtests.bench.contenders import WorkerFailed, WorkerProcess, kill_every_worker, samples, start_together
from loadtests.bench.figures import percentile, steady_rate
from loadtests.bench.readback import tally_records
from loadtests.sweep import plots
from loadtests.sweep.plan import MIXES, Point, latency_points, sizing_table, throughput_points
from streams.config import GatewayConfig
from streams.devtools import localbroker
from streams.devtools.traffic import TrafficGenerator

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "tuning"


class SweepFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr, flush=True)


class Sweep:
    def __init__(self, bootstrap: str, payloads: int, partitions: int, logs: Path, seed: int = 1) -> None:
        self.bootstrap = bootstrap
        self.payloads = payloads
        self.partitions = partitions
        self.logs = logs
        self.seed = seed

    def throughput(self, point: Point) -> dict[str, Any]:
        topology.set_overrides(point.overrides)
        run = f"s{uuid.uuid4().hex[:6]}"
        ingest, prefix = f"{run}.ingest", f"{run}-gw"
        topology.create_topics(self.bootstrap, [ingest], self.partitions)
        payloads = list(TrafficGenerator(seed=self.seed, mix=MIXES[point.mix]).payloads(self.payloads))
        generator.send(self.bootstrap, ingest, payloads)
        expected = topology.expected_by_role(payloads, self.partitions)
        config = topology.gateway_config(prefix, ingest, self.partitions, point.delivery)
        topology.create_gateway_topics(config, self.bootstrap)
        worker = WorkerProcess(
            "gateway", bootstrap=self.bootstrap, input_topic=ingest, prefix=prefix,
            partitions=self.partitions, logs=self.logs, expected=self.payloads, delivery=point.delivery,
        )  # fmt: skip
        start_together([worker])
        report = worker.result(max(120.0, self.payloads / 200))
        rate = steady_rate(samples(report))
        tallies = tally_records(
            self.bootstrap, topology.output_topics(config), audit_topic=config.topics.audit
        )
        got = Counter(
            {
                topology.role(t): tally.audit_entries if t == config.topics.audit else tally.records
                for t, tally in tallies.items()
            }
        )
        if +got != +expected:
            raise SweepFailed(f"{point.name}: outputs differ from the pure pipeline's prediction")
        events = expected["audit"]  # one audit entry per decoded event
        exported = sum(n for role, n in expected.items() if role in {d for d in config.destinations})
        records = sum(t.records for t in tallies.values())
        per_event = events / self.payloads
        result = {
            "name": point.name,
            "payloads_per_s": round(rate.per_second, 1),
            "events_per_s": round(rate.per_second * per_event, 1),
            "cpu_us_per_payload": round(rate.cpu_us_per_record, 1),
            "cpu_us_per_event": round(rate.cpu_us_per_record / per_event, 1),
            "python_us_per_payload": round(rate.us_per_record(rate.worker_thread_seconds), 1),
            "librdkafka_us_per_payload": round(rate.us_per_record(rate.librdkafka_seconds), 1),
            "events_per_payload": round(per_event, 2),
            "payload_bytes_mean": round(sum(map(len, payloads)) / len(payloads)),
            "exported_share": round(exported / events, 2),
            "records_per_payload": round(records / self.payloads, 2),
            "value_bytes_per_payload": round(sum(t.value_bytes for t in tallies.values()) / self.payloads),
            "aborted_transactions": report.get("aborted_transactions", 0),
        }
        topology.delete_topics(self.bootstrap, [ingest, *_gateway_topics(config)])
        say(
            f"{point.name}: {result['payloads_per_s']:,.0f} payloads/s, "
            f"{result['cpu_us_per_payload']:.0f} µs CPU per payload"
        )
        return result

    def latency(self, point: Point, rate: float, seconds: float, warm: int) -> dict[str, Any]:
        topology.set_overrides(point.overrides)
        run = f"s{uuid.uuid4().hex[:6]}"
        ingest, prefix = f"{run}.ingest", f"{run}-lat"
        topology.create_topics(self.bootstrap, [ingest], self.partitions)
        config = topology.gateway_config(prefix, ingest, self.partitions, point.delivery)
        topology.create_gateway_topics(config, self.bootstrap)
        traffic = TrafficGenerator(seed=self.seed + 1, mix=MIXES[point.mix])
        # Made before the clock starts: the generator's own work (~30 µs a payload) stays out of
        # the machine's load while the gateway is measured.
        made = iter(list(traffic.payloads(warm + int(rate * (seconds + _WARMUP_SECONDS)) + 1)))

        def payloads(count: int) -> Iterator[bytes]:
            return itertools.islice(made, count)

        worker = WorkerProcess(
            "gateway", bootstrap=self.bootstrap, input_topic=ingest, prefix=prefix,
            partitions=self.partitions, logs=self.logs, delivery=point.delivery,
        )  # fmt: skip
        start_together([worker])
        try:
            values, offered = latency.measure(
                self.bootstrap,
                ingest,
                config.topics.audit,
                payloads,
                rate,
                seconds,
                _WARMUP_SECONDS,
                say,
                warm,
            )
        finally:
            worker.stop()
        report = worker.result(60)
        worked = steady_rate(samples(report))
        batches = report.get("batches", 0)
        result = {
            "name": point.name,
            "load": point.load,
            "offered_per_s": round(offered, 1),
            "p50_ms": round(percentile(values, 0.50), 1),
            "p99_ms": round(percentile(values, 0.99), 1),
            "max_ms": round(max(values), 1),
            "measured": len(values),
            # What the worker did over the whole run (warm-up included): a worker far from saturated
            # commits small batches, and its CPU per payload is higher than a saturated one's.
            "payloads_per_batch": round(report["records_in"] / batches, 1) if batches else None,
            "cpu_us_per_payload": round(worked.cpu_us_per_record, 1),
        }
        topology.delete_topics(self.bootstrap, [ingest, *_gateway_topics(config)])
        say(f"{point.name}: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms at {offered:,.0f}/s")
        return result


_WARMUP_SECONDS = 2.0


def _gateway_topics(config: GatewayConfig) -> list[str]:
    """Every topic a gateway config names but its ingest: outputs, erasure, subject keys."""
    return [t for t in config.all_topics() if t not in config.topics.ingest]


def run_sweep(args: argparse.Namespace, bootstrap: str, logs: Path) -> dict[str, Any]:
    sweep = Sweep(bootstrap, args.payloads, args.partitions, logs)
    started = time.monotonic()
    points = throughput_points(args.quick)
    # One run of a point here differs from the next by up to ~20% (the broker and the machine's
    # other work share the two cores): the points run in rounds, each round through all of them,
    # and each point's figures are its median run's, by rate.
    rounds = [[sweep.throughput(point) for point in points] for _ in range(args.rounds)]
    throughput = [_median_run([runs[i] for runs in rounds]) for i in range(len(points))]
    base = throughput[0]["payloads_per_s"]
    latencies = [
        sweep.latency(point, base * point.load, args.latency_seconds, args.warm_payloads)
        for point in latency_points(args.quick)
    ]
    topology.set_overrides(None)
    return {
        "command": "python -m loadtests.sweep" + (" --quick" if args.quick else ""),
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "broker": "local, on the same cores"},
        "payloads_per_point": args.payloads,
        "rounds": args.rounds,
        "partitions": args.partitions,
        "seconds": round(time.monotonic() - started),
        "throughput": throughput,
        "latency": latencies,
        "sizing": sizing_table(base),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose rate is the median of a point's runs, with every run's rate beside it."""
    ordered = sorted(runs, key=lambda run: run["payloads_per_s"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "runs_payloads_per_s": [run["payloads_per_s"] for run in runs],
    }


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: fewer points, fewer payloads")
    parser.add_argument("--payloads", type=int, default=None, help="payloads per throughput point (20,000)")
    parser.add_argument("--port", type=int, default=19097, help="the sweep's broker (reused if running)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=None, help="runs of each throughput point (3; quick 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the figures and plots go")
    args = parser.parse_args(argv)
    # At least three batches of the default 2,000, so a rate is measured over more than the first.
    args.payloads = args.payloads or (6_000 if args.quick else 20_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.latency_seconds = 3.0 if args.quick else 15.0
    args.warm_payloads = 500 if args.quick else 3_000
    broker = localbroker.start(port=args.port)
    logs = Path(tempfile.mkdtemp(prefix="sweep-"))
    try:
        results = run_sweep(args, broker.bootstrap, logs)
    except (SweepFailed, WorkerFailed, RuntimeError, TimeoutError, ValueError) as error:
        print(f"sweep: {error} (worker logs in {logs})", file=sys.stderr)
        return 1
    finally:
        kill_every_worker()
        if not broker.reused:
            localbroker.stop(args.port)
    shutil.rmtree(logs, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    (args.out / "results.md").write_text(plots.results_markdown(results))
    written = plots.write_plots(results, args.out)
    # The guide's tables are this run's: rewritten in place when the figures go where it reads them.
    guide = args.out.parent / "tuning.md"
    if args.out.resolve() == DEFAULT_OUT and guide.exists():
        guide.write_text(plots.fill_guide(guide.read_text(), results))
        say(f"rewrote the tables of {guide}")
    say(f"wrote {args.out / 'sweep.json'}, results.md and {', '.join(p.name for p in written)}")
    print(orjson.dumps(results).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
