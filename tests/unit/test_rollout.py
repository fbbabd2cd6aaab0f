"""What a running worker may take from a new policy, and how its rollout shows (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.cli.top import parse, render
from streams.config import parse_config
from streams.rollout import PolicyLog, Refusal, runtime_differences

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "config" / "minimal.yaml").read_text()


def _changed(**changes: object) -> str:
    document = yaml.safe_load(MINIMAL)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = document
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return yaml.safe_dump(document)


@pytest.mark.parametrize(
    "change",
    [
        {"regions__eu__countries": ["EU27", "CH", "GB", "NO"]},  # a country moves
        {"regions__us__transfers": {}},  # a region stops exporting
        {"jurisdiction__on_conflict": "strictest"},
        {"policy_version": "another"},
    ],
)
def test_what_decides_and_transforms_events_may_change_live(change: dict[str, object]) -> None:
    assert runtime_differences(parse_config(MINIMAL), parse_config(_changed(**change))) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"kafka__batch_size": 10}, "kafka: changed"),
        ({"kafka__security__protocol": "SASL_SSL"}, "kafka: changed"),
        ({"topics__quarantine": "other.quarantine"}, "topics: changed"),
        ({"regions__eu__topic": "events.eu2"}, "regions.eu: its topic or cluster changed"),
        ({"regions__xx": {"countries": ["AQ"], "topic": "events.xx"}}, "regions: added or removed"),
        ({"destinations": {"global": {"topic": "events.world"}}}, "destinations: "),
        ({"keys__refresh_seconds": 30}, "keys: changed"),
    ],
)
def test_what_needs_a_restart_is_refused_with_its_reason(change: dict[str, object], named: str) -> None:
    candidate = parse_config(_changed(**change))
    problems = runtime_differences(parse_config(MINIMAL), candidate)
    assert any(p.startswith(named) for p in problems), problems


def test_the_health_block_says_which_policy_runs_and_what_was_refused() -> None:
    policies = PolicyLog()
    config = parse_config(MINIMAL)
    assert policies.health(config, "sha256:x")["refused"] is None
    policies.switched("published")
    policies.refused(Refusal("v9", "published at offset 4", "kafka: changed", at=1.0))
    health = policies.health(config, "sha256:x")
    assert health["source"] == "published" and health["switches"] == 1
    assert health["refused"] == {
        "policy_version": "v9",
        "origin": "published at offset 4",
        "reason": "kafka: changed",
        "at": 1.0,
    }


def test_top_shows_the_policy_each_worker_runs() -> None:
    text = (
        "residency_gateway_records_in_total 5.0\n"
        'residency_gateway_policy_info{policy_hash="sha256:ab",policy_version="v2"} 1.0\n'
        "residency_gateway_policy_refusals_total 1.0\n"
    )
    snapshot = parse(text, "ok")
    assert snapshot is not None and snapshot.policy == "v2 (sha256:ab)"
    assert "policy v2 (sha256:ab)  (1 refused)" in render(snapshot, None, "http://w1:6066")
