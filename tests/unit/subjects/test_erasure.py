"""Erasure requests, the subject-store records, and the state they fold into; no broker."""

from __future__ import annotations

import orjson
import pytest

from streams.formats.base import PayloadError
from streams.keys.ring import KeyUnavailable, PseudonymKey
from streams.subjects.erasure import normalize_subject, parse_erasure_request
from streams.subjects.records import RecordKind, SubjectRecord, decode_record, encode_record, key_record
from streams.subjects.states import SubjectStates
from streams.subjects.tokens import SubjectKey, new_subject_key, wrap

EU = PseudonymKey("eu", 1, bytes(range(32)))
SUBJECT = "Canary.Erase.4711@Example.com"


def test_a_valid_request_is_normalized() -> None:
    request = parse_erasure_request(orjson.dumps({"subject": f"  {SUBJECT} ", "request_id": "dsr-1"}))
    assert request.subject == SUBJECT.lower()
    assert request.request_id == "dsr-1"
    assert SUBJECT.lower() not in repr(request)


def test_request_id_is_optional_and_other_fields_are_ignored() -> None:
    request = parse_erasure_request(b'{"subject": "user-42", "reason": "art. 17"}')
    assert (request.subject, request.request_id) == ("user-42", None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"request_id": "dsr-1"}', "'subject' is missing"),
        (f"{SUBJECT}".encode(), "must be JSON"),
        (f'["{SUBJECT}"]'.encode(), "must be a JSON object (got an array)"),
        (f'"{SUBJECT}"'.encode(), "must be a JSON object (got a string)"),
        (b'{"subject": 4711}', "'subject' must be a string (got a number)"),
        (f'{{"subject": ["{SUBJECT}"]}}'.encode(), "'subject' must be a string (got an array)"),
        (b'{"subject": "   "}', "'subject' is empty"),
        (f'{{"subject": "{SUBJECT}", "request_id": 7}}'.encode(), "'request_id' must be a string"),
        (f'{{"subject": "{SUBJECT}", "request_id": "{"x" * 201}"}}'.encode(), "longer than 200"),
    ],
)
def test_bad_requests_say_why_and_never_echo_the_subject(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_erasure_request(raw)
    assert caught.value.stage == "erasure"
    assert reason in caught.value.reason
    for spelling in (SUBJECT, SUBJECT.lower(), "canary", "4711"):
        assert spelling not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "normalized"),
    [(" user-1 ", "user-1"), (" Jane@Example.COM", "jane@example.com"), ("Anon-ABC", "Anon-ABC"), (42, "42")],
)
def test_subjects_are_trimmed_and_emails_lowercased(value: str | int, normalized: str) -> None:
    assert normalize_subject(value) == normalized


def stored(record: SubjectRecord) -> SubjectRecord:
    """The record as another worker reads it back from the topic."""
    key, value = encode_record(record)
    return decode_record(record.region, key, value)


def new_key_record(ref: str, at: int = 100) -> tuple[SubjectRecord, SubjectKey]:
    subject_key = new_subject_key(EU)
    return key_record("eu", ref, wrap(EU, subject_key), subject_key, at), subject_key


def test_key_records_round_trip_through_their_wire_form() -> None:
    record, _ = new_key_record("1.ref")
    key, value = encode_record(record)
    assert key == f"1.ref/{record.dek_id}".encode()
    assert value is not None and set(orjson.loads(value)) == {"v", "wrapped", "version", "created"}
    assert stored(record) == record


def test_erasure_is_a_marker_plus_tombstones() -> None:
    marker = SubjectRecord(RecordKind.ERASED, "eu", "1.ref", at=1_700_000_000)
    assert encode_record(marker) == (b"1.ref", b'{"v":1,"erased":1700000000}')
    assert encode_record(SubjectRecord(RecordKind.DESTROYED, "eu", "1.ref", "ab" * 8)) == (
        b"1.ref/" + b"ab" * 8,
        None,
    )


def test_a_restored_key_is_unwrapped_on_first_use() -> None:
    record, subject_key = new_key_record("1.ref")
    states = SubjectStates()
    states.apply(stored(record))
    assert states.key_for("eu", "1.ref", EU) == subject_key
    assert states.key_by_id("eu", subject_key.dek_id, EU) == subject_key


def test_a_key_that_does_not_unwrap_fails_closed_instead_of_making_a_new_one() -> None:
    record, _ = new_key_record("1.ref")
    states = SubjectStates()
    states.apply(stored(record))
    with pytest.raises(KeyUnavailable):
        states.key_for("eu", "1.ref", PseudonymKey("eu", 1, bytes(32)))


def test_workers_that_raced_to_create_keys_agree_on_the_oldest() -> None:
    older, older_key = new_key_record("1.ref", at=100)
    newer, _ = new_key_record("1.ref", at=101)
    first, second = SubjectStates(), SubjectStates()
    for states, order in ((first, (older, newer)), (second, (newer, older))):
        for record in order:
            states.apply(stored(record))
    assert first.key_for("eu", "1.ref", EU) == second.key_for("eu", "1.ref", EU) == older_key


def test_erasure_forgets_keys_and_is_permanent() -> None:
    record, subject_key = new_key_record("1.ref")
    states = SubjectStates()
    states.apply(stored(record))
    states.apply(stored(SubjectRecord(RecordKind.DESTROYED, "eu", "1.ref", record.dek_id)))
    states.apply(stored(SubjectRecord(RecordKind.ERASED, "eu", "1.ref", at=200)))
    assert states.is_erased("eu", "1.ref")
    assert states.key_for("eu", "1.ref", EU) is None
    assert states.key_by_id("eu", subject_key.dek_id, EU) is None
    assert list(states.take_orphans()) == []


def test_a_key_written_after_the_erasure_is_handed_out_for_destruction() -> None:
    late, late_key = new_key_record("1.ref")
    states = SubjectStates()
    states.apply(stored(SubjectRecord(RecordKind.ERASED, "eu", "1.ref", at=200)))
    states.apply(stored(late))
    assert states.key_by_id("eu", late_key.dek_id, EU) is None
    orphans = list(states.take_orphans())
    assert [(o.kind, o.key) for o in orphans] == [(RecordKind.DESTROYED, late.key)]
    assert list(states.take_orphans()) == []


def test_keys_the_eraser_did_not_know_become_orphans_unless_their_tombstone_follows() -> None:
    known, _ = new_key_record("1.ref", at=100)
    unknown, _ = new_key_record("1.ref", at=101)
    states = SubjectStates()
    states.apply(stored(known))
    states.apply(stored(unknown))
    states.apply(stored(SubjectRecord(RecordKind.ERASED, "eu", "1.ref", at=200)))
    states.apply(stored(SubjectRecord(RecordKind.DESTROYED, "eu", "1.ref", known.dek_id)))
    assert [o.dek_id for o in states.take_orphans()] == [unknown.dek_id]


def test_an_unreadable_erasure_marker_still_counts_as_an_erasure() -> None:
    states = SubjectStates()
    states.apply(decode_record("eu", b"1.ref", b"not json"))
    assert states.is_erased("eu", "1.ref")


def test_an_unreadable_key_record_is_counted_and_ignored() -> None:
    states = SubjectStates()
    states.apply(decode_record("eu", b"1.ref/" + b"ab" * 8, b'{"v": 1, "wrapped": "%%%"}'))
    assert states.invalid_records == 1
    assert not states.known("eu", "1.ref")


def test_a_tombstone_for_the_marker_lifts_the_erasure_as_compaction_would() -> None:
    states = SubjectStates()
    states.apply(stored(SubjectRecord(RecordKind.ERASED, "eu", "1.ref", at=200)))
    states.apply(decode_record("eu", b"1.ref", None))
    assert not states.is_erased("eu", "1.ref") and not states.known("eu", "1.ref")


def test_an_erasure_request_id_that_looks_personal_is_audited_by_its_coordinates() -> None:
    from streams.audit import audit_event_id

    assert audit_event_id("dsr-2026-12-02-000017", "erasure", 0, 7, 0) == "dsr-2026-12-02-000017"
    assert audit_event_id("dsr-1", "erasure", 0, 7, 0) == "erasure:0:7:0"  # too short to look generated
    assert audit_event_id("someone@example.com", "erasure", 0, 7, 0) == "erasure:0:7:0"
    assert audit_event_id("81.2.69.142", "erasure", 1, 3, 0) == "erasure:1:3:0"
    assert audit_event_id(None, "erasure", 2, 9, 0) == "erasure:2:9:0"
