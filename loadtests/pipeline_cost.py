"""What the pure pipeline costs per event, with no Kafka: the figure the copies' design is judged by.

    python -m loadtests.pipeline_cost [--payloads N] [--repeats R]

Runs the default policy's pipeline over the demo's traffic (streams/traffic.py) with
ephemeral keys: once to fill the caches, then R timed passes; prints the best pass
(µs per event and per payload) and the share of events that were exported. Run it on
two commits to compare them: the traffic is the same for the same seed.
"""

from __future__ import annotations

import argparse
import gc
import time

from streams.config import load_config
from streams.keys import development_keys
from streams.pipeline import Pipeline
from streams.routing import Source
from streams.traffic import TrafficGenerator


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
    payloads = list(TrafficGenerator(seed=args.seed).payloads(args.payloads))
    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    size = sum(map(len, payloads)) / len(payloads)
    events, exported, cold = timed_pass(pipeline, payloads)
    gc.collect()
    best = min(timed_pass(pipeline, payloads)[2] for _ in range(args.repeats))
    print(
        f"payloads: {len(payloads)} (mean {size:.0f} bytes), events: {events}, exported copies: {exported}\n"
        f"cold: {cold / events * 1e6:.1f} µs/event\n"
        f"warm (best of {args.repeats}): {best / events * 1e6:.1f} µs/event, "
        f"{best / len(payloads) * 1e6:.1f} µs/payload, {events / best:,.0f} events/s on one core"
    )


if __name__ == "__main__":
    main()
