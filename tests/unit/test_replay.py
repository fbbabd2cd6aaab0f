"""What a held record becomes under the current policy (streams/replay.py), without Kafka."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.config import parse_config
from streams.keys.ring import development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline
from streams.replay import HeldRecord, held_record, release

ROOT = Path(__file__).resolve().parents[2]
QUARANTINE = "events.quarantine"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    config = parse_config((ROOT / "config" / "minimal.yaml").read_text())
    return Pipeline(config, development_keys(config.key_regions()))


def _headers(topic: str = "events.ingest", partition: int = 2, offset: int = 40, index: int = 1) -> list:
    return [
        ("rg-source-topic", topic.encode()),
        ("rg-source-partition", str(partition).encode()),
        ("rg-source-offset", str(offset).encode()),
        ("rg-source-index", str(index).encode()),
    ]


def test_a_held_record_names_where_it_came_from() -> None:
    held = held_record(QUARANTINE, 0, 7, _headers())
    assert held == HeldRecord(QUARANTINE, 0, 7, Source("events.ingest", 2, 40), 1, False)
    assert held.ledger_key == b"events.quarantine:0:7"
    whole = held_record(QUARANTINE, 0, 8, [*_headers(index=0), ("rg-source-scope", b"payload")])
    assert whole is not None and whole.whole_payload


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        _headers()[1:],  # no topic
        [("rg-source-topic", b"t"), ("rg-source-partition", b"zero"), ("rg-source-offset", b"1")],
        [("rg-source-topic", b"t"), ("rg-source-partition", b"-1"), ("rg-source-offset", b"1")],
        [("rg-source-topic", b"\xff"), ("rg-source-partition", b"0"), ("rg-source-offset", b"1")],
    ],
)
def test_a_record_without_readable_coordinates_is_left_alone(headers: list | None) -> None:
    assert held_record(QUARANTINE, 0, 1, headers) is None


def _event(ip: str | None, message_id: str) -> dict:
    return {"type": "track", "event": "x", "messageId": message_id, "userId": "u1",
            **({"context": {"ip": ip}} if ip else {})}  # fmt: skip


def test_a_decided_event_is_released_at_its_original_position(pipeline: Pipeline) -> None:
    held = held_record(QUARANTINE, 3, 9, _headers(index=4))
    assert held is not None
    results = pipeline.process(orjson.dumps(_event("81.2.69.142", "m-1")), held.source)
    released = release(held, results, pipeline.policy_hash)
    assert released.held_as is None and dict(released.regions) == {"eu": 1}
    assert {out.topic for out in released.outputs} == {"events.eu", "events.global"}
    assert all(("rg-released-from", b"events.quarantine:3:9") in out.headers for out in released.outputs)
    (audit,) = released.audits
    assert audit["source"] == {"topic": "events.ingest", "partition": 2, "offset": 40, "index": 4}
    assert audit["released_from"] == {"topic": QUARANTINE, "partition": 3, "offset": 9}
    assert audit["outcome"] == Outcome.ROUTED


def test_what_is_still_undecidable_writes_nothing(pipeline: Pipeline) -> None:
    held = held_record(QUARANTINE, 0, 1, _headers())
    assert held is not None
    results = pipeline.process(orjson.dumps(_event(None, "m-2")), held.source)
    released = release(held, results, pipeline.policy_hash)
    assert released.held_as == "quarantined: no-signal"
    assert released.outputs == [] and released.audits == []


def test_a_whole_payload_is_released_all_or_nothing(pipeline: Pipeline) -> None:
    batch = {"batch": [_event("81.2.69.142", "a"), _event("8.8.8.8", "b")]}
    held = held_record(QUARANTINE, 0, 1, [*_headers(index=0), ("rg-source-scope", b"payload")])
    assert held is not None
    released = release(held, pipeline.process(orjson.dumps(batch), held.source), pipeline.policy_hash)
    assert dict(released.regions) == {"eu": 1, "us": 1}
    assert [a["source"]["index"] for a in released.audits] == [0, 1]
    # One event of it still undecidable: none of it leaves, so no record is both released and held.
    batch["batch"].append(_event(None, "c"))
    partial = release(held, pipeline.process(orjson.dumps(batch), held.source), pipeline.policy_hash)
    assert partial.held_as == "quarantined: no-signal" and partial.outputs == []


def test_an_event_kept_as_its_whole_payload_releases_only_itself(pipeline: Pipeline) -> None:
    # Event 1 of the batch was dead-lettered with the whole payload as its value: the other was
    # routed when the payload came, so only event 1 may be released now.
    batch = {"batch": [_event("81.2.69.142", "routed-then"), _event("8.8.8.8", "held")]}
    held = held_record("events.dead-letter", 0, 5, _headers(index=1))
    assert held is not None
    released = release(held, pipeline.process(orjson.dumps(batch), held.source), pipeline.policy_hash)
    assert dict(released.regions) == {"us": 1} and [a["source"]["index"] for a in released.audits] == [1]
    beyond = held_record("events.dead-letter", 0, 5, _headers(index=9))
    assert beyond is not None
    missing = release(beyond, pipeline.process(orjson.dumps(batch), beyond.source), pipeline.policy_hash)
    assert missing.held_as is not None and missing.outputs == []
