"""`explain`: run raw ingest payloads through the pipeline with no broker and show every decision."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from streams.formats.exact_json import JsonRefused, read_json, write_json
from streams.outcomes import Source
from streams.pipeline import Pipeline

# Coordinates for the dead-letter headers `explain` shows when no ingest topic is named.
EXPLAIN_TOPIC = "<explain>"


def explain_lines(
    pipeline: Pipeline, lines: Iterable[bytes], topic: str = EXPLAIN_TOPIC
) -> Iterator[dict[str, Any]]:
    """One object per event of each input line; at least one per line, whatever the line holds.

    `topic` is the ingest topic the lines are read as coming from, so a format pinned to it applies.
    """
    policy_version = pipeline.config.policy_version
    for number, line in enumerate(lines, start=1):
        raw = line.rstrip(b"\r\n")
        for result in pipeline.process(raw, Source(topic, 0, number)):
            decision = result.decision
            explained: dict[str, Any] = {"line": number, "index": result.index, "format": result.format}
            if decision is not None:
                explained |= {
                    "region": decision.region,
                    "signal": decision.signal,
                    "country": decision.country,
                    "reason": decision.reason,
                    "ignored": list(decision.ignored),
                }
            else:
                explained |= {
                    "region": None,
                    "signal": None,
                    "country": None,
                    "reason": "undecided: the event could not be decoded",
                    "ignored": [],
                }
            explained["policy_version"] = policy_version
            explained["outputs"] = [
                {"topic": out.topic, "region": out.region, "value": _as_json(out.value)}
                for out in result.outputs
            ]
            explained["error"] = result.error.reason if result.error is not None else None
            # What the audit topic records for the event: the transformed fields, key version, policy hash.
            explained["audit"] = result.audit
            yield explained


def predicted_topic_counts(pipeline: Pipeline, payloads: Iterable[bytes]) -> Counter[str]:
    """How many records each output topic will hold for these payloads, as the pure pipeline decides:
    what the demo and the integration tests check a running gateway against."""
    audit = pipeline.config.topics.audit
    counts: Counter[str] = Counter()
    for offset, payload in enumerate(payloads):
        for result in pipeline.process(payload, Source("predicted", 0, offset)):
            counts.update(out.topic for out in result.outputs)
            counts[audit] += 1  # one audit entry per event, whatever its outcome
    return counts


def _as_json(value: bytes) -> Any:
    """An output's value for display: its document if it is one `explain` can print, else its text.

    Read exactly, so a user id past 64 bits shows its digits; a dead letter's value may be a
    payload nested too deep to print, or one with a repeated key, which shows as it came.
    """
    try:
        document = read_json(value)
        # The value sits three levels down in the printed line: it must still be writable there.
        write_json([[[document]]])
    except (JsonRefused, TypeError):
        return value.decode("utf-8", errors="replace")
    return document
