"""The audit record: one per batch per source partition, read back into the events' entries exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.audit import MAX_AUDIT_RECORD_BYTES, audit_entries, audit_records
from streams.config import load_config
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline

CONFIG = load_config(None)
PIPELINE = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))
CORPUS = Path(__file__).resolve().parents[1] / "golden" / "explain_corpus.jsonl"


def corpus_entries(
    topic: str = "events.ingest", partition: int = 3, first: int = 100
) -> list[dict[str, Any]]:
    """The golden corpus's audit entries, as if its lines sat at consecutive offsets of one partition."""
    lines = CORPUS.read_bytes().splitlines()
    return [
        result.audit
        for offset, line in enumerate(lines, start=first)
        for result in PIPELINE.process(line, Source(topic, partition, offset))
    ]


def test_a_batch_of_one_partition_is_one_record_that_reads_back_as_its_entries() -> None:
    entries = corpus_entries()
    [(key, value)] = audit_records("events.ingest", 3, entries, PIPELINE.policy_hash)
    last = entries[-1]["source"]["offset"]
    assert key == f"events.ingest:3:100-{last}".encode()
    assert audit_entries(value) == entries
    record = orjson.loads(value)
    # What every entry shares is written once, not per entry.
    assert record["source"] == {
        "topic": "events.ingest",
        "partition": 3,
        "first_offset": 100,
        "last_offset": last,
    }
    assert record["policy_hash"] == PIPELINE.policy_hash
    assert all("source" not in entry and "policy_hash" not in entry for entry in record["entries"])
    assert len(value) < sum(len(orjson.dumps(entry)) for entry in entries)


def test_a_batch_too_large_for_one_record_is_split_by_offsets_and_loses_nothing() -> None:
    entries = []
    while sum(len(orjson.dumps(e)) for e in entries) < 3 * MAX_AUDIT_RECORD_BYTES:
        entries += corpus_entries(first=len(entries) * 2 + 1)  # offsets keep rising
    written = list(audit_records("events.ingest", 3, entries, PIPELINE.policy_hash))
    assert len(written) >= 3
    assert all(len(value) <= MAX_AUDIT_RECORD_BYTES + 1024 for _key, value in written)
    read = [entry for _key, value in written for entry in audit_entries(value)]
    assert read == entries
    # Each record's key names the offsets its own entries hold.
    for key, value in written:
        offsets = [entry["source"]["offset"] for entry in audit_entries(value)]
        assert key == f"events.ingest:3:{offsets[0]}-{offsets[-1]}".encode()


def test_an_entry_under_another_policy_keeps_its_own_hash() -> None:
    entries = corpus_entries()[:3]
    entries[1] = {**entries[1], "policy_hash": "sha256:other"}
    [(_key, value)] = audit_records("events.ingest", 3, entries, PIPELINE.policy_hash)
    assert audit_entries(value) == entries


def test_an_erasure_requests_entry_reads_back_too() -> None:
    erasure = PIPELINE.erasure(
        b'{"subject": "user-1", "request_id": "r"}', Source("events.erasure", 0, 5), lambda s: []
    )
    [(key, value)] = audit_records("events.erasure", 0, [erasure.audit], PIPELINE.policy_hash)
    assert key == b"events.erasure:0:5-5"
    assert audit_entries(value) == [erasure.audit]


@pytest.mark.parametrize(
    "value", [b"", b"{", b"[]", b'{"event_id": "x"}', b'{"audit_record": 2, "entries": []}', b"\xff"]
)
def test_what_isnt_an_audit_record_is_refused_with_a_clear_error(value: bytes) -> None:
    with pytest.raises(ValueError, match="audit record"):
        audit_entries(value)


_TEXT = st.text(max_size=20)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["event_id", "outcome", "reason", "outputs", "x"]), _JSON), max_size=6
    )
)
def test_any_entries_read_back_exactly(shapes: list[dict[str, Any]]) -> None:
    entries = [
        {**shape, "source": {"topic": "t", "partition": 0, "offset": offset, "index": 0}, "policy_hash": "h"}
        for offset, shape in enumerate(shapes)
    ]
    read = [entry for _key, value in audit_records("t", 0, entries, "h") for entry in audit_entries(value)]
    assert read == entries


def test_the_docs_example_is_what_the_gateway_writes() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    track = next(line.strip() for line in page.splitlines() if line.startswith('    {"type": "track"'))
    example = orjson.loads(page.split("```json\n", 1)[1].split("```", 1)[0])
    entries = [
        *(r.audit for r in PIPELINE.process(track.encode(), Source("events.ingest", 0, 77))),
        *(r.audit for r in PIPELINE.process(b"{not json", Source("events.ingest", 0, 78))),
    ]
    [(key, value)] = audit_records("events.ingest", 0, entries, PIPELINE.policy_hash)
    written = orjson.loads(value)
    assert key == b"events.ingest:0:77-78"
    # The policy hash changes with the default policy; the page shows one of its values.
    assert {**written, "policy_hash": None} == {**example, "policy_hash": None}
