"""The fault runs' judge: it must see a lost, a duplicated, a misrouted and a leaked event."""

from __future__ import annotations

import hashlib
from collections import Counter

from loadtests.faults.events import CanaryEvent, hashed_forms
from loadtests.faults.verdict import Verdict, audited_input, judge

EXPECTED = {
    "f000001-e1": Counter({"eu": 1, "global": 1, "audit": 1}),
    "f000001-e2": Counter({"cn": 1, "audit": 1}),
    "f000001-e3": Counter({"dead": 1, "audit": 1}),
}
CLEAN = [
    ("eu", "f000001-e1", b'{"messageId":"f000001-e1","userId":"canary-user-1"}'),
    ("global", "f000001-e1", b'{"messageId":"f000001-e1","userId":"pz:eu:1:abc"}'),
    ("audit", "f000001-e1", b'{"event_id":"f000001-e1"}'),
    ("cn", "f000001-e2", b'{"messageId":"f000001-e2","userId":"canary-user-2"}'),
    ("audit", "f000001-e2", b'{"event_id":"f000001-e2"}'),
    ("dead", "f000001-e3", b'{"messageId":"f000001-e3","userId":"canary-mail-3@'),
    ("audit", "f000001-e3", b'{"event_id":"in:0:3:0"}'),
]
HASHES = hashed_forms([CanaryEvent("f000001-e1", b"", ("canary-user-1",))])


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
    in_the_clear = [*CLEAN[:1], ("global", "f000001-e1", b'{"userId":"canary-user-1"}'), *CLEAN[2:]]
    as_a_hash = [*CLEAN[:1], ("global", "f000001-e1", b'{"userId":"' + sha + b'"}'), *CLEAN[2:]]
    assert _judge(in_the_clear).leaked == 1
    assert _judge(as_a_hash).leaked == 1


def test_an_event_in_another_regions_topic_is_both_extra_and_leaked() -> None:
    verdict = _judge([*CLEAN, ("cn", "f000001-e1", CLEAN[0][2])])
    assert verdict.duplicated == 1 and verdict.leaked == 1


def test_an_output_no_input_can_be_found_for_fails_the_run() -> None:
    verdict = _judge([*CLEAN, ("global", None, b"{}")])
    assert verdict.unidentified == 1 and not verdict.passed


def test_an_audit_entry_is_traced_by_the_event_id_it_names_and_else_by_its_coordinates() -> None:
    coordinates = {(0, 7): "f000001-e9"}
    routed = {"event_id": "f000001-e4", "source": {"partition": 1, "offset": -1001}}
    unreadable = {"event_id": "in:0:7:0", "source": {"partition": 0, "offset": 7}}
    unknown = {"event_id": None, "source": {"partition": 0, "offset": 8}}
    assert audited_input(routed, coordinates) == "f000001-e4"
    assert audited_input(unreadable, coordinates) == "f000001-e9"
    assert audited_input(unknown, coordinates) is None


def test_every_copy_of_a_fault_run_keeps_its_input_s_id_whatever_the_run_id() -> None:
    # The judge traces copies by their input's id. `fc40199-000000123` held a 14-digit run, a
    # Luhn-valid card number for one number in ten, and copies rightly lost it: a CI run failed.
    import random

    from loadtests.faults.events import CanaryFactory
    from streams.config import load_config
    from streams.keys.ring import development_keys
    from streams.outcomes import Source
    from streams.pipeline import Pipeline

    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    rng = random.Random(7)
    runs = ["fc40199", "f999999", "f234567", *(f"f{rng.getrandbits(24):06x}" for _ in range(40))]
    for run in runs:
        factory = CanaryFactory(run)
        for number in (*range(1, 40), 1234, 99_999, 123_456_789):
            event = factory.event(number)
            for result in pipeline.process(event.payload, Source("ingest", 0, number)):
                for out in result.outputs:
                    assert event.event_id.encode() in out.value, (run, number, out.topic)
                assert audited_input(result.audit, {}) == event.event_id, (run, number)
