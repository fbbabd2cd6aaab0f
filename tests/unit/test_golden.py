"""Golden files for what the gateway writes that others read: a change to any of them fails with a diff.

- `explain` on a fixed corpus (tests/golden/explain_corpus.jsonl: one SDK-made line per
  format, demo traffic, and hand-made edge cases) under the default policy and fixed keys:
  decisions, every output's value, the audit records, and every record's rg-* headers
  (tests/golden/explain_output.jsonl).
- The audit record the engine writes for the same events, read as one batch of one source
  partition (tests/golden/audit_record.json; docs/audit.md).
- Subject-store wire formats (tests/golden/subject_store.json): subject refs; a wrapped
  subject key, a token and store records written by this version, which every later
  version must still read.

A deliberate change to a format regenerates the expected files, to be reviewed as a diff:

    RESIDENCY_GATEWAY_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_golden.py

The subject store's written fixtures are never regenerated: keys and tokens already in
Kafka must stay readable, so a change that can't read them is a change to undo.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.audit import audit_entries, audit_records
from streams.config import load_config
from streams.explain import explain_lines
from streams.formats.exact_json import read_json, write_json
from streams.keys.ring import KeyRing, PseudonymKey
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.subjects.records import RecordKind, SubjectRecord, decode_record, encode_record, key_record
from streams.subjects.tokens import SubjectKey, detokenize, subject_ref, unwrap

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("RESIDENCY_GATEWAY_UPDATE_GOLDEN") == "1"
CONFIG = load_config(None)
# Fixed keys, one per region, so pseudonyms are the same on every run.
KEYS = KeyRing(
    [PseudonymKey(region, 1, bytes([n + 1]) * 32) for n, region in enumerate(sorted(CONFIG.key_regions()))]
)


def explained_corpus() -> list[dict[str, Any]]:
    lines = (GOLDEN / "explain_corpus.jsonl").read_bytes().splitlines()
    explained = list(explain_lines(Pipeline(CONFIG, KEYS), lines))
    # The same events' records as the engine writes them: every header, and the key.
    pipeline = Pipeline(CONFIG, KEYS)
    written = [
        [
            {"topic": out.topic, "key": _text(out.key), "headers": [[n, _text(v)] for n, v in out.headers]}
            for out in result.outputs
        ]
        for number, line in enumerate(lines, start=1)
        for result in pipeline.process(line, Source("explain", 0, number))
    ]
    assert len(written) == len(explained)
    return [{**entry, "records": records} for entry, records in zip(explained, written, strict=True)]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def test_explain_output_audit_records_and_headers_are_the_pinned_ones() -> None:
    path = GOLDEN / "explain_output.jsonl"
    actual = explained_corpus()
    if UPDATE:
        path.write_bytes(b"".join(write_json(entry) + b"\n" for entry in actual))
    expected = [read_json(line) for line in path.read_bytes().splitlines()]
    assert len(actual) == len(expected)
    for number, (got, pinned) in enumerate(zip(actual, expected, strict=True), start=1):
        # One event at a time, so a failure's diff names the event and shows only what changed.
        assert got == pinned, f"event {number} of the golden corpus"


def test_the_audit_record_of_a_batch_is_the_pinned_one() -> None:
    path = GOLDEN / "audit_record.json"
    lines = (GOLDEN / "explain_corpus.jsonl").read_bytes().splitlines()
    pipeline = Pipeline(CONFIG, KEYS)
    entries = [
        result.audit
        for offset, line in enumerate(lines, start=1)
        for result in pipeline.process(line, Source("events.ingest", 0, offset))
    ]
    [(key, value)] = audit_records("events.ingest", 0, entries, pipeline.policy_hash)
    actual = {"key": key.decode(), "value": orjson.loads(value)}
    if UPDATE:
        path.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2) + b"\n")
    pinned = orjson.loads(path.read_bytes())
    assert actual["key"] == pinned["key"]
    assert value == orjson.dumps(pinned["value"])  # byte for byte: keys in their order
    assert audit_entries(value) == entries


def test_the_corpus_covers_every_outcome_format_and_header() -> None:
    entries = [read_json(line) for line in (GOLDEN / "explain_output.jsonl").read_bytes().splitlines()]
    outcomes = {entry["audit"]["outcome"] for entry in entries}
    assert outcomes == {"routed", "quarantined", "dead-lettered"}
    formats = {entry["format"] for entry in entries}
    assert {"segment", "rudderstack", "snowplow", "snowplow_get", "snowplow_enriched_tsv", "ga4"} <= formats
    headers = {name for entry in entries for record in entry["records"] for name, _ in record["headers"]}
    source = {"rg-source-topic", "rg-source-partition", "rg-source-offset", "rg-source-index"}
    decision = {"rg-region", "rg-policy-version", "rg-signal", "rg-reason", "rg-ignored"}
    pinned = {*decision, "rg-error", "rg-stage"}
    assert pinned | source <= headers
    assert any(entry["audit"]["withheld_by_consent"] for entry in entries)


# --- the subject store ----------------------------------------------------------------------------------

REGION_KEY = PseudonymKey("eu", 2, bytes(range(32)))


def subject_store_golden() -> dict[str, Any]:
    return orjson.loads((GOLDEN / "subject_store.json").read_bytes())  # type: ignore[no-any-return]


def test_a_subject_ref_is_the_pinned_one() -> None:
    for case in subject_store_golden()["refs"]:
        key = PseudonymKey(case["region"], case["version"], bytes.fromhex(case["key_hex"]))
        assert subject_ref(key, case["subject"]) == case["ref"]


def test_a_wrapped_key_and_a_token_written_before_still_open() -> None:
    golden = subject_store_golden()
    wrapped = golden["wrapped_key"]
    subject = unwrap(REGION_KEY, base64.b64decode(wrapped["blob"]))
    assert (subject.dek_id, subject.secret.hex(), subject.wrapped_with) == (
        wrapped["dek_id"], wrapped["secret_hex"], REGION_KEY.version,
    )  # fmt: skip

    def lookup(region: str, dek_id: str) -> SubjectKey | None:
        return subject if (region, dek_id) == ("eu", subject.dek_id) else None

    for case in golden["tokens"]:
        assert detokenize(case["token"], lookup) == case["value"]


@pytest.mark.parametrize("kind", ["key", "erased", "destroyed", "unerased"])
def test_subject_store_records_are_written_and_read_as_pinned(kind: str) -> None:
    case = subject_store_golden()["records"][kind]
    key, value = case["key"].encode(), None if case["value"] is None else case["value"].encode()
    record = decode_record("eu", key, value)
    assert record.kind is RecordKind(kind)
    assert encode_record(record) == (key, value)  # written today exactly as before


def test_a_key_record_is_written_as_pinned() -> None:
    case = subject_store_golden()["records"]["key"]
    wrapped = subject_store_golden()["wrapped_key"]
    subject = SubjectKey(wrapped["dek_id"], bytes.fromhex(wrapped["secret_hex"]), REGION_KEY.version)
    record = key_record("eu", case["ref"], base64.b64decode(wrapped["blob"]), subject, case["created"])
    assert encode_record(record) == (case["key"].encode(), case["value"].encode())
    assert isinstance(record, SubjectRecord)
