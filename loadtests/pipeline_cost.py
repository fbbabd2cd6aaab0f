"""What the pure pipeline costs per event, with no Kafka: the figure the copies' design is judged by.

    python -m loadtests.pipeline_cost [--payloads N] [--repeats R]

R may be 0 (only the pass that fills the caches): run under an instruction counter, the
difference between --repeats 1 and --repeats 0 is one pass's work, free of this machine's
timing noise (docs/performance.md).

Runs the default policy's pipeline over the demo's traffic (streams/devtools/traffic.py) with
ephemeral keys: one pass to fill the caches, then R timed passes, each over payloads it
hasn't seen (the generator goes on, so event names and pages recur and ids mostly don't,
as in a live stream), with the engine's garbage collector settings. Prints the best pass
(µs per event and per payload) and how many exported copies were made. Run it on two
commits to compare them: the traffic is the same for the same seed and generator.
"""

from __future__ import annotations

import argparse
import gc
import time

from streams.config import load_config
from streams.devtools.traffic import TrafficGenerator
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline


def timed_pass(pipeline: Pipeline, payloads: list[bytes]) -> tuple[int, int, float]:
    """(events, exported copies, seconds) of one pass over the payloads."""
    events = exported = 0
    started = time.perf_counter()
    for offset, payload in enumerate(payloads):
        for result in pipeline.process(payload, Source("bench", 0, offset)):
            events += 1
            exported += sum(1 for out in result.outputs if out.outcome.value == "exported")
    return events, exported, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payloads", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    traffic = TrafficGenerator(seed=args.seed)
    # At least one fresh pass is made even with --repeats 0, so the work done outside the timed
    # passes is the same whatever the count: under an instruction counter (docs/performance.md),
    # the difference between --repeats 1 and --repeats 0 is exactly one pass.
    passes = [list(traffic.payloads(args.payloads)) for _ in range(max(args.repeats, 1) + 1)]
    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    payloads = passes[0]
    size = sum(map(len, payloads)) / len(payloads)
    events, exported, cold = timed_pass(pipeline, payloads)
    # As the engine runs (streams/kafka/engine.py): what exists once set up is frozen, and young
    # objects are collected every 20,000 allocations; the default would walk the caches often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    print(
        f"payloads: {len(payloads)} (mean {size:.0f} bytes), events: {events}, exported copies: {exported}\n"
        f"cold: {cold / events * 1e6:.1f} µs/event"
    )
    if args.repeats < 1:
        return
    timed = [timed_pass(pipeline, fresh) for fresh in passes[1 : args.repeats + 1]]
    best = min(seconds / count for count, _, seconds in timed)
    best_payload = best * events / len(payloads)
    print(
        f"warm (best of {args.repeats} passes over fresh payloads): {best * 1e6:.1f} µs/event, "
        f"{best_payload * 1e6:.1f} µs/payload, {1 / best:,.0f} events/s on one core"
    )


if __name__ == "__main__":
    main()
