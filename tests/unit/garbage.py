"""One check two test files share: running payloads through the pipeline leaves no reference cycles.

The engine collects cyclic garbage rarely (streams/kafka/engine.py), so a result that kept its
payload alive in a cycle would pile up in memory between collections.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

from streams.outcomes import Source
from streams.pipeline import Pipeline


def assert_no_reference_cycles(pipeline: Pipeline, payloads: Sequence[bytes]) -> None:
    def process_all() -> None:
        for offset, raw in enumerate(payloads):
            pipeline.process(raw, Source("events.ingest", 0, offset))

    process_all()  # caches filled once
    gc.collect()
    gc.disable()
    try:
        process_all()
        assert gc.collect() == 0
    finally:
        gc.enable()
