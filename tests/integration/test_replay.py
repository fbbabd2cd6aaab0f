"""`replay` on the real broker: what a policy without a country quarantined is released once the
policy adds it, exactly once, across a second replay and a kill -9; what is still undecidable stays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from streams.cli import main
from streams.config import GatewayConfig, parse_config
from streams.kafka.replay import replay
from streams.kafka.topics import apply_topics, replay_ledger_topic
from streams.keys.ring import development_keys
from streams.service.wiring import build_gateway
from tests.integration.kafka_io import audited, in_thread, policy_text, produce, read_all, wait_committed

pytestmark = pytest.mark.integration

SWISS_IP = "178.197.224.1"
SPANISH_IP = "85.195.1.1"


def _policies(bootstrap: str) -> tuple[str, str]:
    """The policy before (no region takes CH, no catch-all) and after (eu takes CH): the same topics."""
    document = yaml.safe_load(policy_text(uuid.uuid4().hex[:10], bootstrap))
    del document["regions"]["row"]
    document["regions"]["eu"]["countries"] = ["EU27"]
    document["kafka"]["partitions"] = 1
    before = yaml.safe_dump(document, sort_keys=False)
    document["regions"]["eu"]["countries"] = ["EU27", "CH"]
    document["policy_version"] += "-with-ch"
    return before, yaml.safe_dump(document, sort_keys=False)


def _events(prefix: str, ip: str | None, count: int) -> list[bytes | None]:
    return [
        orjson.dumps({"type": "track", "event": "Viewed", "messageId": f"{prefix}-{i}",
                      "userId": f"{prefix}-u{i}", **({"context": {"ip": ip}} if ip else {})})
        for i in range(count)
    ]  # fmt: skip


def _route_with(config: GatewayConfig, bootstrap: str) -> None:
    """Run the gateway under `config` until it has committed everything on ingest."""
    keys = development_keys(config.key_regions())
    gateway = build_gateway(config, bootstrap, keys, worker_id="w1", poll_timeout=0.1)
    try:
        with in_thread(gateway.engine):
            wait_committed(bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
    finally:
        gateway.close()


def _message_ids(records: list[Any]) -> Counter[str]:
    return Counter(orjson.loads(r.value)["messageId"] for r in records if r.value)


def test_a_policy_that_adds_a_country_releases_its_quarantined_events_once(kafka_bootstrap: str) -> None:
    before_text, after_text = _policies(kafka_bootstrap)
    before, after = parse_config(before_text), parse_config(after_text)
    apply_topics(before, kafka_bootstrap)
    t = before.topics
    produce(kafka_bootstrap, t.ingest[0], [*_events("ch", SWISS_IP, 5), *_events("none", None, 3),
                                           *_events("es", SPANISH_IP, 4)])  # fmt: skip
    _route_with(before, kafka_bootstrap)
    held = read_all(kafka_bootstrap, [t.quarantine])[t.quarantine]
    assert len(held) == 8  # 5 Swiss (no region) and 3 without a signal

    keys = development_keys(after.key_regions())
    report = replay(after, kafka_bootstrap, keys, "quarantine", batch_size=3)
    assert (report.examined, report.released_records, dict(report.released)) == (8, 5, {"eu": 5})
    assert report.still_held == Counter({"quarantined: no-signal": 3}) and report.already_released == 0

    eu, copies, audit, ledger = (after.regions["eu"].topic, after.destinations["global"].topic, t.audit,
                                 replay_ledger_topic(after))  # fmt: skip
    out = read_all(kafka_bootstrap, [eu, copies, audit, t.quarantine, ledger])
    ids = _message_ids(out[eu])
    assert ids == Counter({**{f"es-{i}": 1 for i in range(4)}, **{f"ch-{i}": 1 for i in range(5)}})
    released = [r for r in out[eu] if "rg-released-from" in r.headers]
    assert len(released) == 5
    assert {r.headers["rg-policy-version"] for r in released} == {after.policy_version.encode()}
    held_at = {f"{t.quarantine}:{r.partition}:{r.offset}".encode() for r in held}
    assert {r.headers["rg-released-from"] for r in released} <= held_at
    # Each copy of a released event crossed the border pseudonymized, as live traffic's does.
    assert len([r for r in out[copies] if "rg-released-from" in r.headers]) == 5
    entries = [e for e in audited(out[audit]) if "released_from" in e]
    assert len(entries) == 5 and {e["outcome"] for e in entries} == {"routed"}
    assert {e["source"]["topic"] for e in entries} == {t.ingest[0]}  # the original coordinates
    assert all(e["released_from"]["topic"] == t.quarantine for e in entries)
    # The quarantine keeps what it held: nothing was written there again.
    assert len(out[t.quarantine]) == 8 and len(out[ledger]) == 5

    again = replay(after, kafka_bootstrap, keys, "quarantine")
    assert (again.released_records, again.already_released, sum(again.still_held.values())) == (0, 5, 3)
    assert _message_ids(read_all(kafka_bootstrap, [eu])[eu]) == ids  # nothing twice


def _ledger_count(bootstrap: str, ledger: str) -> int:
    """Held records released so far: the ledger's committed entries."""
    return len(read_all(bootstrap, [ledger])[ledger])


def test_a_replay_killed_mid_way_and_run_again_releases_each_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    before_text, after_text = _policies(kafka_bootstrap)
    before, after = parse_config(before_text), parse_config(after_text)
    apply_topics(before, kafka_bootstrap)
    total = 1500
    produce(kafka_bootstrap, before.topics.ingest[0], _events("ch", SWISS_IP, total))
    _route_with(before, kafka_bootstrap)
    config_path = tmp_path / "after.yaml"
    config_path.write_text(after_text)
    ledger, eu = replay_ledger_topic(after), after.regions["eu"].topic
    command = [sys.executable, "-m", "streams", "replay", "--from", "quarantine",
               "--config", str(config_path), "--dev-keys", "--batch-size", "10"]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _ledger_count(kafka_bootstrap, ledger) == 0:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first replay released nothing in 120 s"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)  # mid-way: between or inside its transactions
    first.wait(30)
    part = _ledger_count(kafka_bootstrap, ledger)
    assert 0 < part < total, f"the first replay wasn't killed mid-way: {part} of {total} released"

    second = CliRunner().invoke(main, ["replay", "--from", "quarantine", "--config", str(config_path),
                                       "--dev-keys"])  # fmt: skip
    assert second.exit_code == 0, second.output
    assert f"released {total - part} held records" in second.output, second.output
    assert f"skipped  {part} released by an earlier replay" in second.output
    ids = _message_ids(read_all(kafka_bootstrap, [eu])[eu])
    assert ids == Counter({f"ch-{i}": 1 for i in range(total)})  # every event, each once
    assert _ledger_count(kafka_bootstrap, ledger) == total


def test_dead_letters_a_new_format_setting_can_read_are_released_and_the_rest_stay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    document = yaml.safe_load(policy_text(uuid.uuid4().hex[:10], kafka_bootstrap))
    document["kafka"]["partitions"] = 1
    before = parse_config(yaml.safe_dump(document, sort_keys=False))
    ingest = before.topics.ingest[0]
    # The fix: this topic's payloads are a JSON format of the team's own, whose country is `where`.
    document["topics"]["ingest_formats"] = {ingest: "generic"}
    document["formats"] = {"generic": {"upstream_country": ["where"], "identifiers": ["uid"]}}
    after = parse_config(yaml.safe_dump(document, sort_keys=False))
    apply_topics(before, kafka_bootstrap)
    own_format = [orjson.dumps({"uid": f"g-{i}", "where": "DE", "what": "view"}) for i in range(3)]
    produce(kafka_bootstrap, ingest, [*own_format, b"\x00 not JSON either"])
    produce(kafka_bootstrap, before.topics.erasure, [b"an erasure request nobody can read"])
    _route_with(before, kafka_bootstrap)
    wait_committed(kafka_bootstrap, before.kafka.group_id, before.topics.erasure, timeout=60)
    dead = read_all(kafka_bootstrap, [before.topics.dead_letter])[before.topics.dead_letter]
    assert len(dead) == 5
    assert sum(1 for r in dead if r.headers.get("rg-source-scope") == b"payload") == 4  # whole payloads

    report = replay(after, kafka_bootstrap, development_keys(after.key_regions()), "dead-letter")
    assert (report.released_records, dict(report.released)) == (3, {"eu": 3})
    assert sum(report.still_held.values()) == 1  # not JSON under any policy
    assert report.left_alone == Counter({"not from a current ingest topic": 1})  # the erasure request
    eu = after.regions["eu"].topic
    released = [r for r in read_all(kafka_bootstrap, [eu])[eu] if "rg-released-from" in r.headers]
    assert sorted(orjson.loads(r.value or b"")["uid"] for r in released) == ["g-0", "g-1", "g-2"]
