"""The fault runs' judge: it must see a lost, a duplicated, a misrouted and a leaked event."""

from __future__ import annotations

import hashlib
from collections import Counter

from loadtests.faults.events import CanaryEvent, hashed_forms
from loadtests.faults.verdict import Verdict, audited_input, judge

EXPECTED = {
    "f000001-1": Counter({"eu": 1, "global": 1, "audit": 1}),
    "f000001-2": Counter({"cn": 1, "audit": 1}),
    "f000001-3": Counter({"dead": 1, "audit": 1}),
}
CLEAN = [
    ("eu", "f000001-1", b'{"messageId":"f000001-1","userId":"canary-user-1"}'),
    ("global", "f000001-1", b'{"messageId":"f000001-1","userId":"pz:eu:1:abc"}'),
    ("audit", "f000001-1", b'{"event_id":"f000001-1"}'),
    ("cn", "f000001-2", b'{"messageId":"f000001-2","userId":"canary-user-2"}'),
    ("audit", "f000001-2", b'{"event_id":"f000001-2"}'),
    ("dead", "f000001-3", b'{"messageId":"f000001-3","userId":"canary-mail-3@'),
    ("audit", "f000001-3", b'{"event_id":"in:0:3:0"}'),
]
HASHES = hashed_forms([CanaryEvent("f000001-1", b"", ("canary-user-1",))])


def _judge(records: list[tuple[str, str | None, bytes]]) -> Verdict:
    return judge(
        EXPECTED,
        records,
        home_topics={"eu", "cn"},
        held_topics={"dead"},
        audit_topic="audit",
        hashes=HASHES,
    )


def test_a_clean_run_passes() -> None:
    verdict = _judge(CLEAN)
    assert (verdict.sent, verdict.delivered, verdict.lost, verdict.duplicated, verdict.leaked) == (
        3,
        3,
        0,
        0,
        0,
    )
    assert verdict.passed


def test_a_missing_copy_is_lost_and_a_second_copy_is_duplicated() -> None:
    records = [r for r in CLEAN if r[0] != "global"] + [CLEAN[3]]
    verdict = _judge(records)
    assert (verdict.lost, verdict.duplicated, verdict.delivered) == (1, 1, 1)
    assert not verdict.passed


def test_a_canary_outside_its_home_region_is_a_leak_and_so_is_its_unkeyed_hash() -> None:
    sha = hashlib.sha256(b"canary-user-1").hexdigest().encode()
    in_the_clear = [*CLEAN[:1], ("global", "f000001-1", b'{"userId":"canary-user-1"}'), *CLEAN[2:]]
    as_a_hash = [*CLEAN[:1], ("global", "f000001-1", b'{"userId":"' + sha + b'"}'), *CLEAN[2:]]
    assert _judge(in_the_clear).leaked == 1
    assert _judge(as_a_hash).leaked == 1


def test_an_event_in_another_regions_topic_is_both_extra_and_leaked() -> None:
    verdict = _judge([*CLEAN, ("cn", "f000001-1", CLEAN[0][2])])
    assert verdict.duplicated == 1 and verdict.leaked == 1


def test_an_output_no_input_can_be_found_for_fails_the_run() -> None:
    verdict = _judge([*CLEAN, ("global", None, b"{}")])
    assert verdict.unidentified == 1 and not verdict.passed


def test_an_audit_record_is_traced_by_the_event_id_it_names_and_else_by_its_coordinates() -> None:
    # Across a broker restart the producer may not learn an input's offset (a re-sent batch the
    # broker already had): the coordinates then miss it, and the id the record names still finds it.
    coordinates = {(0, 7): "f000001-9"}
    routed = b'{"event_id":"f000001-4","source":{"partition":1,"offset":-1001}}'
    unreadable = b'{"event_id":"in:0:7:0","source":{"partition":0,"offset":7}}'
    unknown = b'{"event_id":null,"source":{"partition":0,"offset":8}}'
    assert audited_input(routed, coordinates) == "f000001-4"
    assert audited_input(unreadable, coordinates) == "f000001-9"
    assert audited_input(unknown, coordinates) is None
