"""`explain`: run raw ingest payloads through the pipeline with no broker and show every decision."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from streams.pipeline import Pipeline
from streams.routing import Source

# Coordinates for the dead-letter headers `explain` shows: the "topic" is the input itself.
_EXPLAIN_TOPIC = "<explain>"


def explain_lines(pipeline: Pipeline, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """One object per event of each input line; at least one per line, whatever the line holds."""
    for number, line in enumerate(lines, start=1):
        raw = line.rstrip(b"\r\n")
        for result in pipeline.process(raw, Source(_EXPLAIN_TOPIC, 0, number)):
            decision = result.decision
            if decision is not None:
                region, reason = decision.region, decision.reason
            else:
                region, reason = None, "undecided: the event could not be decoded"
            yield {
                "line": number,
                "index": result.index,
                "region": region,
                "reason": reason,
                "outputs": [
                    {"topic": out.topic, "region": out.region, "value": _as_json(out.value)}
                    for out in result.outputs
                ],
                "error": result.error.reason if result.error is not None else None,
            }


def _as_json(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode("utf-8", errors="replace")
