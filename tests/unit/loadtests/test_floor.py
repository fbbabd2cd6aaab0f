"""The CPU floor measurement: it times each unavoidable step over what the pipeline really writes."""

from __future__ import annotations

from loadtests.floor import measure, report
from loadtests.generator import payloads


def test_the_floor_counts_every_record_the_pipeline_writes_and_times_every_step() -> None:
    floor = measure(payloads(300))
    assert floor.payloads == 300
    # At least one output per event, and the batch's audit record.
    assert floor.records_written >= floor.events + 1 > 300
    assert [step.name for step in floor.steps] == [
        "parse each payload",
        "serialize each rebuilt output",
        "serialize the audit entries, a record per batch",
        "produce() each output and audit record",
    ]
    assert all(step.us_per_payload > 0 for step in floor.steps)
    assert floor.us_per_payload == sum(step.us_per_payload for step in floor.steps)
    text = report(floor)
    assert "floor (their sum)" in text and "records written" in text
