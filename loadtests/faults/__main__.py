"""`python -m loadtests.faults`: every fault scenario, a table each, and a JSON summary last.

It starts a Kafka broker of its own (port 19096 by default, so the broker it
restarts is nobody else's) and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from loadtests.faults.harness import say, stop_every_gateway
from loadtests.faults.scenarios import SCENARIOS
from loadtests.faults.verdict import Verdict
from streams.devtools import localbroker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.faults", description=__doc__)
    parser.add_argument("--events", type=int, default=6000, help="canary events per scenario")
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="how long each scenario's traffic lasts (the faults need time to happen mid-stream)",
    )
    parser.add_argument("--short", action="store_true", help="the CI version: 1,500 events per scenario")
    parser.add_argument("--port", type=int, default=19096, help="port of the run's own broker")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="run only these")
    parser.add_argument("--keep", action="store_true", help="keep the gateways' logs and configs")
    args = parser.parse_args(argv)
    # A SIGTERM (a CI timeout) unwinds like an error, so the finally blocks below stop the
    # gateways and the broker this run started instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda _signo, _frame: sys.exit(143))
    events = 1500 if args.short else args.events
    names = args.scenario or list(SCENARIOS)

    rate = events / args.seconds
    say(f"fault runs: {', '.join(names)}; {events} events each over {args.seconds:.0f} s ({rate:.0f}/s)")
    status = localbroker.start(port=args.port, timeout=120)
    if status.reused:
        say(f"  (reusing the broker already on port {args.port})")
    results: dict[str, Verdict] = {}
    try:
        workdir = tempfile.mkdtemp(prefix="residency-faults-")
        say(f"  gateway logs and configs in {workdir}{'' if args.keep else ' (removed at the end)'}")
        try:
            for name in names:
                say(f"\n[{name}] {SCENARIOS[name].__doc__}")
                started = time.monotonic()
                verdict = SCENARIOS[name](status.bootstrap, Path(workdir), events, rate, args.port)
                results[name] = verdict
                _print_table(name, verdict, time.monotonic() - started)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        stop_every_gateway()
        if not status.reused:
            localbroker.stop(args.port)
    print(json.dumps({"scenarios": {name: verdict.as_json() for name, verdict in results.items()}}))
    return 0 if all(verdict.passed for verdict in results.values()) else 1


def _print_table(name: str, verdict: Verdict, seconds: float) -> None:
    print(f"\n{name} ({seconds:.0f} s){': ' + '; '.join(verdict.notes) if verdict.notes else ''}")
    print(f"  {'sent':>8} {'delivered':>10} {'lost':>6} {'duplicated':>11} {'leaked':>7}")
    v = verdict
    print(f"  {v.sent:>8} {v.delivered:>10} {v.lost:>6} {v.duplicated:>11} {v.leaked:>7}")
    if verdict.unidentified:
        print(f"  {verdict.unidentified} output records carried no input id")
    print(f"  {'PASS' if verdict.passed else 'FAIL'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
