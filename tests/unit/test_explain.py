"""`residency-gateway explain`: the contract, run as a user runs it."""

import subprocess
import sys

import orjson

PAYLOADS = [
    b'{"type":"track","event":"Signed Up","userId":"u1","context":{"ip":"81.2.69.142"}}',
    b"this is not json",
    b'{"batch":[{"type":"page","context":{"ip":"114.114.114.114"}},{"type":"identify"}]}',
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
        assert set(obj) == {"line", "index", "region", "reason", "outputs", "error"}
    eu, bad, cn, held, empty = objects
    assert eu["region"] == "eu" and eu["reason"] == "ip-geolocation: GB" and eu["error"] is None
    assert [(o["topic"], o["region"]) for o in eu["outputs"]] == [
        ("events.eu", "eu"),
        ("events.global", "global"),
    ]
    assert eu["outputs"][1]["value"]["userId"].startswith("pz:eu:0:")
    assert bad["region"] is None and bad["error"].startswith("not valid JSON")
    assert bad["outputs"] == [{"topic": "events.dead-letter", "region": None, "value": "this is not json"}]
    assert cn["region"] == "cn" and [o["topic"] for o in cn["outputs"]] == ["events.cn"]
    assert held["region"] is None and held["outputs"][0]["topic"] == "events.quarantine"
    assert empty["error"] == "empty payload"
    assert "ephemeral development keys" in stderr


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
