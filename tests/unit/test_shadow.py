"""Comparing two policies event by event (streams/shadow.py) and `explain --compare`, without Kafka."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from streams.cli import main
from streams.shadow import Comparison, Fate, _paths

ACTIVE = """
policy_version: v1
regions:
  eu: {countries: [EU27], topic: events.eu, transfers: {global: pseudonymized}}
  us: {countries: [US], topic: events.us, transfers: {global: pseudonymized}}
"""
CANDIDATE = (
    ACTIVE.replace("v1", "v2")
    .replace("[EU27]", "[EU27, CH]")
    .replace("topic: events.us, transfers: {global: pseudonymized}", "topic: events.us")
)


def test_a_copys_fields_are_its_leaf_paths_never_its_values() -> None:
    copy = orjson.dumps({"a": {"b": 1, "c": None, "d": []}, "e": [{"f": "x"}], "g": "secret@example.com"})
    assert _paths(copy) == {"a.b", "a.d", "e[].f", "g"}
    assert _paths(b"not json\tat all") == {"(a copy that isn't JSON: its fields aren't compared)"}


def test_each_kind_of_difference_is_counted_with_a_few_examples() -> None:
    comparison = Comparison()
    same = Fate("eu", {"g": frozenset({"a"})}, "same")
    comparison.add(same, same)
    for n in range(5):
        comparison.add(Fate("eu", {"g": frozenset({"a"})}, f"q{n}"), Fate("quarantine", {}, f"q{n}"))
    comparison.add(Fate("quarantine", {}, "r"), Fate("us", {"g": frozenset({"a", "b"})}, "r"))
    comparison.add(Fate("us", {"g": frozenset({"a"})}, "w"), Fate("us", {"g": frozenset({"a", "w"})}, "w"))
    comparison.add(None, Fate("eu", {}, "newly-readable"))
    report = comparison.report()
    assert (report["events"], report["changed"]) == (9, 8)
    assert report["moves"]["eu -> quarantine"] == {"events": 5, "examples": ["q0", "q1", "q2"]}
    assert report["newly_quarantined"] == {"eu": {"events": 5, "examples": ["q0", "q1", "q2"]}}
    assert report["newly_released"] == {"us": {"events": 1, "examples": ["r"]}}
    assert report["moves"]["dead-letter -> eu"] == {"events": 1, "examples": ["newly-readable"]}
    assert report["copies_disappear"] == {"g": {"events": 5, "examples": ["q0", "q1", "q2"]}}
    assert report["copies_appear"] == {"g": {"events": 1, "examples": ["r"]}}
    assert report["newly_exported_fields"] == {
        "g": {
            "a": {"events": 1, "examples": ["r"]},
            "b": {"events": 1, "examples": ["r"]},
            "w": {"events": 1, "examples": ["w"]},
        }
    }


def test_explain_compare_reports_what_the_new_policy_changes(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(ACTIVE)
    (tmp_path / "new.yaml").write_text(CANDIDATE)
    lines = [
        {
            "type": "track",
            "event": "x",
            "userId": "u",
            "messageId": "00000000-0000-0000-0000-000000000001",
            "context": {"ip": "178.197.224.1"},
        },  # CH: held, then eu
        {
            "type": "track",
            "event": "x",
            "userId": "u",
            "messageId": "00000000-0000-0000-0000-000000000002",
            "context": {"ip": "8.8.8.8"},
        },  # US: its copy stops
        {
            "type": "track",
            "event": "x",
            "userId": "u",
            "messageId": "00000000-0000-0000-0000-000000000003",
            "context": {"ip": "85.195.1.1"},
        },  # ES: no change
    ]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    result = CliRunner().invoke(
        main,
        [
            "explain",
            "--compare",
            str(tmp_path / "old.yaml"),
            str(tmp_path / "new.yaml"),
            str(tmp_path / "in.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout.splitlines()[0])
    assert (report["active"]["policy_version"], report["candidate"]["policy_version"]) == ("v1", "v2")
    assert (report["events"], report["changed"]) == (3, 2)
    assert report["moves"] == {"quarantine -> eu": {"events": 1, "examples": [lines[0]["messageId"]]}}
    assert report["copies_disappear"] == {"events.global": {"events": 1, "examples": [lines[1]["messageId"]]}}
    assert "178.197" not in result.stdout  # paths and ids, never values


def test_the_metrics_label_places_and_topics_never_field_paths() -> None:
    from prometheus_client import generate_latest

    from streams.config import parse_config
    from streams.kafka.shadow import Shadow, shadow_registry
    from streams.keys.ring import development_keys
    from streams.pipeline import Pipeline

    active, candidate = parse_config(ACTIVE), parse_config(CANDIDATE)
    shadow = Shadow(
        Pipeline(active, development_keys(active.key_regions())),
        Pipeline(candidate, development_keys(candidate.key_regions())),
        "127.0.0.1:1",  # never connected: the metrics read the comparison
    )
    shadow.comparison.add(
        Fate("quarantine", {}, "r"), Fate("eu", {"events.global": frozenset({"traits.email"})}, "r")
    )
    text = generate_latest(shadow_registry(shadow)).decode()
    assert "residency_gateway_shadow_events_total 1.0" in text
    assert 'residency_gateway_shadow_moved_events_total{from="quarantine",to="eu"} 1.0' in text
    assert (
        'residency_gateway_shadow_copy_changes_total{change="appear",destination="events.global"} 1.0' in text
    )
    assert (
        'residency_gateway_shadow_newly_exported_field_events_total{destination="events.global"} 1.0' in text
    )
    assert "traits.email" not in text
