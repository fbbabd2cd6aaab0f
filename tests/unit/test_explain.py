"""`residency-gateway explain`: the contract, run as a user runs it."""

import subprocess
import sys
from pathlib import Path

import orjson

from streams.formats.exact_json import read_json
from tests.collectors.samples import every_format_lines

REPO = Path(__file__).resolve().parents[2]

PAYLOADS = [
    b'{"type":"track","event":"Signed Up","userId":"u1","context":{"ip":"81.2.69.142"}}',
    b"this is not json",
    b'{"batch":[{"type":"page","userId":"u2","context":{"ip":"114.114.114.114"}},{"type":"identify","userId":"u3"}]}',
    b"",
]


def run_explain(stdin: bytes, *args: str) -> tuple[list[dict[str, object]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "streams", "explain", *args],
        input=stdin,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()], done.stderr.decode()


def test_every_line_yields_objects_that_follow_the_contract() -> None:
    objects, stderr = run_explain(b"\n".join(PAYLOADS) + b"\n")
    assert [(o["line"], o["index"]) for o in objects] == [(1, 0), (2, 0), (3, 0), (3, 1), (4, 0)]
    for obj in objects:
        assert set(obj) == {
            "line", "index", "format", "region", "signal", "country", "reason", "ignored",
            "policy_version", "outputs", "error", "audit",
        }  # fmt: skip
        assert obj["policy_version"] == "2026-12-02.1"
    eu, bad, cn, held, empty = objects
    assert (eu["format"], eu["region"], eu["signal"], eu["country"]) == ("segment", "eu", "ip", "GB")
    assert eu["reason"] == "ip: GB -> eu (context.ip)" and eu["ignored"] == [] and eu["error"] is None
    assert [(o["topic"], o["region"]) for o in eu["outputs"]] == [
        ("events.eu", "eu"),
        ("events.global", "global"),
    ]
    assert eu["outputs"][1]["value"]["userId"].startswith("pz:eu:0:")
    # explain shows what each output's transforms did, as the audit topic records it.
    home_audit, global_audit = eu["audit"]["outputs"]
    assert home_audit["form"] == "full" and global_audit["form"] == "pseudonymized"
    assert {"field": "userId", "transform": "pseudonymize"} in global_audit["transformed"]
    assert {"field": "context.ip", "transform": "generalize"} in global_audit["transformed"]
    assert eu["outputs"][1]["value"]["context"]["ip"] == "81.2.69.0"
    assert bad["region"] is None and bad["error"].startswith("not valid JSON")
    assert bad["outputs"] == [{"topic": "events.dead-letter", "region": None, "value": "this is not json"}]
    assert cn["region"] == "cn" and [o["topic"] for o in cn["outputs"]] == ["events.cn"]
    assert held["region"] is None and held["outputs"][0]["topic"] == "events.quarantine"
    assert held["signal"] == "none" and held["reason"].startswith("no-signal:")
    assert empty["error"] == "empty payload"
    assert "ephemeral development keys" in stderr
    assert "geolocation: MAXMIND:GeoLite2-Country-IPv4IPv6-en-20240618, built 2024-06-18, " in stderr


def test_explain_reads_a_file_argument(tmp_path) -> None:
    path = tmp_path / "payloads.ndjson"
    path.write_bytes(PAYLOADS[0] + b"\n")
    objects, _ = run_explain(b"", str(path))
    assert len(objects) == 1 and objects[0]["region"] == "eu"


def test_a_bad_config_is_refused_with_its_path(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("policy_version: x\nregions:\n  eu: {countries: [ZZ], topic: t}\n")
    done = subprocess.run(
        [sys.executable, "-m", "streams", "explain", "--config", str(path)],
        input=b"",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"regions.eu.countries[0]: 'ZZ' is not an ISO 3166-1 country" in done.stderr


def test_run_refuses_to_start_without_real_keys() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams", "run"],
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert b"refusing to start without pseudonymization keys" in done.stderr
    assert b"--dev-keys" in done.stderr


def test_explain_shows_the_decision_for_every_collector_format() -> None:
    lines = every_format_lines()
    objects, _ = run_explain(b"\n".join(raw for raw, *_ in lines) + b"\n")
    seen = [(o["format"], o["region"], o["signal"]) for o in objects]
    assert seen == [(fmt, region, signal) for _, fmt, region, signal in lines]
    rudder, ga4 = objects[1], objects[5]
    assert rudder["ignored"] == ["ip: IN -> in (request_ip)"]
    assert (
        ga4["reason"]
        == "conflict: upstream_country: CN -> cn (user_location.country_id) vs ip: GB -> eu (ip_override)"
    )
    assert [output["topic"] for output in ga4["outputs"]] == ["events.quarantine"]
    assert objects[-1]["outputs"][0]["topic"] == "events.quarantine"


def test_explain_reads_a_pinned_generic_topic(tmp_path) -> None:
    config = tmp_path / "generic.yaml"
    config.write_text(
        (REPO / "config" / "minimal.yaml").read_text()
        + "topics:\n  ingest: [events.ingest, events.partner]\n  ingest_formats: {events.partner: generic}\n"
        + "formats:\n  generic: {declared: [meta.region], ip: [client.addr], identifiers: [who]}\n"
    )
    line = b'{"who": "u-1", "client": {"addr": "8.8.8.8"}, "meta": {}}\n'
    objects, _ = run_explain(line, "--config", str(config), "--topic", "events.partner")
    [obj] = objects
    assert (obj["format"], obj["region"], obj["reason"]) == ("generic", "us", "ip: US -> us (client.addr)")
    assert obj["outputs"][1]["value"]["who"].startswith("pz:us:0:")
    auto, _ = run_explain(line, "--config", str(config))
    assert auto[0]["error"] == "payload matches no supported collector format"


def run_check_config(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "streams", "check-config", str(path)], capture_output=True, timeout=60
    )


def test_check_config_accepts_both_shipped_policies() -> None:
    for name in ("policy.yaml", "minimal.yaml"):
        done = run_check_config(REPO / "config" / name)
        assert done.returncode == 0, done.stderr
        assert b": ok (policy 2026-12-02.1, sha256:" in done.stdout and b", 6 regions" in done.stdout
        assert (
            b"copies: eu -> global (pseudonymized); us -> global (pseudonymized); cn -> nowhere"
            in done.stdout
        )
        assert (
            b"signals, by precedence: declared, upstream_country, ip; on conflict: quarantine" in done.stdout
        )
        # The bundled data's day, and (it is far older than 180 days) a warning to refresh it.
        bundled = b"geolocation: MAXMIND:GeoLite2-Country-IPv4IPv6-en-20240618, built 2024-06-18, "
        assert bundled in done.stdout
        assert b"warning: the geolocation data is " in done.stdout


def test_check_config_prints_every_mistake_with_its_path(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "policy_version: x\n"
        "regions:\n  eu: {countries: [DE, FR, IT, XX], topic: t.eu}\n  us: {countries: [US], topic: t.eu}\n"
        "jurisdiction: {signals: [ip, horoscope], on_conflict: maybe}\n"
    )
    done = run_check_config(path)
    assert done.returncode == 2
    errors = done.stderr.decode()
    assert "regions.eu.countries[3]: 'XX' is not an ISO 3166-1 country" in errors
    assert "jurisdiction.signals[1]:" in errors and "jurisdiction.on_conflict:" in errors
    assert "3 problems" in errors


def test_check_config_opens_the_configured_geolocation_database(tmp_path) -> None:
    path = tmp_path / "geo.yaml"
    missing = tmp_path / "nowhere.mmdb"
    path.write_text(
        (REPO / "config" / "minimal.yaml").read_text()
        + f"jurisdiction: {{geolocation: {{database: {missing}}}}}\n"
    )
    done = run_check_config(path)
    assert done.returncode == 2
    assert b"jurisdiction.geolocation.database: " in done.stderr and b"nowhere.mmdb" in done.stderr


def test_explain_prints_every_line_whatever_the_payload_nests(tmp_path) -> None:
    good = b'{"type":"track","event":"x","userId":"u1","context":{"ip":"81.2.69.142"}}'
    deep = (
        b'{"type":"track","event":"x","userId":"u2","context":{"ip":"81.2.69.142"},"p":'
        + b"[" * 600
        + b"]" * 600
        + b"}"
    )
    path = tmp_path / "payloads.ndjson"
    path.write_bytes(b"\n".join([good, deep, good]) + b"\n")
    objects, _ = run_explain(b"", str(path))
    assert [o["line"] for o in objects] == [1, 2, 3]
    first, dead, last = objects
    assert first["region"] == last["region"] == "eu" and first["error"] is None and last["error"] is None
    assert dead["region"] is None and str(dead["error"]).startswith("payload nests deeper than 254 levels")
    # The dead letter's value can't be shown as a document: it shows as the text it came as.
    assert dead["outputs"] == [{"topic": "events.dead-letter", "region": None, "value": deep.decode()}]


def test_explain_shows_outputs_as_they_are_written_however_deep_or_odd() -> None:
    as_deep_as_written = (
        b'{"type":"track","event":"x","userId":"u","context":{"ip":"81.2.69.142"},"p":'
        + b"[" * 252
        + b"]" * 252
        + b"}"
    )
    repeated = b'{"type":"track","event":"x","userId":"u","userId":"v","context":{"ip":"81.2.69.142"}}'
    big = b'{"type":"identify","userId":18446744073709551617,"context":{"ip":"81.2.69.142"}}'
    done = subprocess.run(
        [sys.executable, "-m", "streams", "explain"],
        input=b"\n".join([as_deep_as_written, repeated, big]) + b"\n",
        capture_output=True,
        check=True,
        timeout=60,
    )
    # Read exactly, as explain writes: orjson alone would turn the user id into a float.
    deep, dup, exact = (read_json(line) for line in done.stdout.splitlines())
    assert deep["region"] == "eu" and deep["outputs"][0]["value"] == as_deep_as_written.decode()
    assert dup["error"] == "payload holds a duplicate key in a JSON object"
    assert dup["outputs"][0]["value"] == repeated.decode()
    assert exact["outputs"][0]["value"]["userId"] == 18446744073709551617
    assert b'"userId":18446744073709551617' in done.stdout


def test_the_predicted_topic_counts_are_the_outputs_the_pipeline_makes_plus_one_audit_record_each() -> None:
    from streams.config import load_config
    from streams.explain import predicted_topic_counts
    from streams.keys.ring import development_keys
    from streams.pipeline import Pipeline

    config = load_config(None)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    eu = orjson.dumps({"type": "track", "event": "x", "userId": "u", "context": {"ip": "81.2.69.142"}})
    batch = orjson.dumps({"batch": [{"type": "track", "event": "x", "anonymousId": "a"}, 7]})
    counts = predicted_topic_counts(pipeline, [eu, batch, b"not json"])
    assert counts == {
        config.regions["eu"].topic: 1,
        config.destinations["global"].topic: 1,
        config.topics.quarantine: 1,
        config.topics.dead_letter: 2,  # the batch's 7, and the payload that isn't JSON
        config.topics.audit: 4,  # one per event, whatever happened to it
    }
