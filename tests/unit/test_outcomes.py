"""Each outcome is built in one place (streams/outcomes.py): its records, its audit record and the
typed labels the engine counts agree, whatever the input."""

from __future__ import annotations

import orjson
import pytest

from streams.classify.jurisdiction import HELD_CONFLICT, HELD_NO_SIGNAL, HELD_UNREADABLE
from streams.config import load_config
from streams.devtools.traffic import TrafficGenerator
from streams.keys.ring import development_keys
from streams.outcomes import EventResult, Outcome, Source
from streams.pipeline import Pipeline

CONFIG = load_config(None)
PIPELINE = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))
SOURCE = Source("events.ingest", 3, 77)
# What an event's audit record may say happened to it, and the records each outcome writes.
EVENT_OUTCOMES = {
    Outcome.ROUTED: {Outcome.ROUTED, Outcome.EXPORTED},
    Outcome.SUPPRESSED: set(),
    Outcome.QUARANTINED: {Outcome.QUARANTINED},
    Outcome.DEAD_LETTERED: {Outcome.DEAD_LETTERED},
}


def agrees(result: EventResult) -> None:
    audit = result.audit
    assert audit["outcome"] == result.outcome.value
    assert {out.outcome for out in result.outputs} <= EVENT_OUTCOMES[result.outcome]
    assert [out["topic"] for out in audit["outputs"]] == [out.topic for out in result.outputs]
    transformed = [change["transform"] for out in audit["outputs"] for change in out["transformed"]]
    assert list(result.transforms) == transformed
    if result.outcome in (Outcome.QUARANTINED, Outcome.DEAD_LETTERED):
        # The label is the reason's class, typed where the reason is made, never parsed from it.
        assert result.held_as is not None and audit["reason"].startswith(f"{result.held_as}: ")
    else:
        assert result.held_as is None


def test_on_mixed_traffic_every_result_s_labels_agree_with_its_audit_record() -> None:
    seen: set[Outcome] = set()
    for offset, raw in enumerate(TrafficGenerator(seed=5).payloads(1500)):
        for result in PIPELINE.process(raw, Source("events.ingest", 0, offset)):
            agrees(result)
            seen.add(result.outcome)
    assert seen == {Outcome.ROUTED, Outcome.QUARANTINED, Outcome.DEAD_LETTERED}


@pytest.mark.parametrize(
    ("event", "held_as"),
    [
        ({"type": "track", "event": "x", "anonymousId": "a"}, HELD_NO_SIGNAL),
        ({"type": "track", "event": "x", "anonymousId": "a",
          "context": {"residency": ["cn"]}}, HELD_UNREADABLE),
        ({"type": "track", "event": "x", "anonymousId": "a",
          "context": {"residency": "eu", "headers": {"cf-ipcountry": "CN"}}}, HELD_CONFLICT),
    ],
)  # fmt: skip
def test_a_quarantined_event_is_labelled_with_why_it_is_held(event: dict[str, object], held_as: str) -> None:
    # (A country in no region, "unassigned", needs a policy with no catch-all: test_jurisdiction.)
    [result] = PIPELINE.process(orjson.dumps(event), SOURCE)
    assert result.outcome is Outcome.QUARANTINED and result.held_as == held_as
    agrees(result)
    [held] = result.outputs
    assert held.topic == CONFIG.topics.quarantine
    assert dict(held.headers)["rg-source-offset"] == b"77"


def test_a_dead_letter_carries_its_reason_stage_and_coordinates_in_records_audit_and_label() -> None:
    [result] = PIPELINE.process(b"{not json", SOURCE, b"key-1")
    agrees(result)
    assert result.outcome is Outcome.DEAD_LETTERED and result.held_as == "decode"
    [dead] = result.outputs
    headers = dict(dead.headers)
    assert (dead.topic, dead.value, dead.key) == (CONFIG.topics.dead_letter, b"{not json", b"key-1")
    assert headers["rg-stage"] == b"decode" and headers["rg-source-topic"] == b"events.ingest"
    assert result.audit["source"] == {"topic": "events.ingest", "partition": 3, "offset": 77, "index": 0}


def test_a_bad_erasure_request_and_an_applied_one_are_outcomes_like_events() -> None:
    erased: list[str] = []

    def erase_subject(subject: str) -> list[str]:
        erased.append(subject)
        return ["eu"]

    bad = PIPELINE.erasure(b"[]", SOURCE, erase_subject)
    agrees(bad)
    assert bad.held_as == "erasure" and erased == []  # nothing applied for a request that can't be read
    raw = orjson.dumps({"subject": " Jane.Doe@Example.com ", "request_id": "dsr-2026-12-02-000017"})
    applied = PIPELINE.erasure(raw, SOURCE, erase_subject)
    assert erased == ["jane.doe@example.com"]  # normalized as pseudonyms are
    assert applied.outcome is Outcome.ERASED and applied.audit["outcome"] == "erased"
    assert (
        applied.audit["regions_with_keys"] == ["eu"] and applied.audit["event_id"] == "dsr-2026-12-02-000017"
    )
    assert applied.outputs == [] and applied.held_as is None


@pytest.mark.parametrize(
    ("target", "stage"),
    [
        ("streams.classify.jurisdiction.Jurisdictions.classify", "classify"),
        ("streams.route.consent.ConsentGate.allows", "route"),  # deciding where copies go
        ("streams.transform.export.ExportCopier.apply", "transform"),  # making them
    ],
)
def test_an_error_no_rule_foresaw_is_dead_lettered_naming_the_stage_it_arose_in(
    monkeypatch: pytest.MonkeyPatch, target: str, stage: str
) -> None:
    # Until route and transform were stages of their own, an error while copying was labelled
    # "route"; it is "transform" now, in rg-stage, the audit reason and the held_reasons metric.
    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("no rule foresaw this")

    monkeypatch.setattr(target, fail)
    pipeline = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))
    raw = orjson.dumps({"type": "track", "event": "x", "userId": "u", "context": {"ip": "81.2.69.142"}})
    [result] = pipeline.process(raw, SOURCE)
    agrees(result)
    assert result.outcome is Outcome.DEAD_LETTERED and result.held_as == stage
    assert result.audit["reason"] == f"{stage}: internal error: RuntimeError"
    assert dict(result.outputs[0].headers)["rg-stage"] == stage.encode()
    assert result.outputs[0].value == raw  # the event is kept as it came
