"""How the commands behave at their edges: flags checked with clear errors, `--config` everywhere,
the same exit codes in every command (README: 0 ok, 1 runtime failure, 2 usage or config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams import cli
from streams.keys.providers.env import env_var_name

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "config" / "policy.yaml"
REGIONS = ["eu", "us", "cn", "in", "ru", "row"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_log_level_that_isnt_one_is_a_usage_error_not_a_traceback() -> None:
    code, _out, err = invoke("run", "--log-level", "bogus", "--dev-keys")
    assert code == 2
    assert "Invalid value for '--log-level': 'bogus' is not one of" in err
    assert "Traceback" not in err


def test_check_config_takes_the_file_as_an_argument_or_as_config() -> None:
    for args in ([str(POLICY)], ["--config", str(POLICY)], [str(POLICY), "--config", str(POLICY)]):
        code, out, err = invoke("check-config", *args)
        assert code == 0, err
        assert f"{POLICY}: ok (policy " in out
    code, out, _err = invoke("check-config")
    assert code == 0 and out.startswith("the shipped policy (config/policy.yaml): ok")


def test_check_config_refuses_two_different_files() -> None:
    code, _out, err = invoke("check-config", str(POLICY), "--config", str(ROOT / "config" / "minimal.yaml"))
    assert code == 2 and "give the config once" in err


def test_a_bad_config_exits_2_in_every_command_that_reads_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_version: x\nregions: {eu: {countries: [XX], topic: t.eu}}\n")
    for args in (
        ["check-config", str(bad)],
        ["check-config", "--config", str(bad)],
        ["explain", "--config", str(bad)],
        ["keys", "check", "--config", str(bad)],
    ):
        code, _out, err = invoke(*args)
        assert code == 2, (args, err)
        assert "regions.eu.countries[0]: 'XX' is not an ISO 3166-1 country" in err, args
    # `run` sets up the process's logging (JSON by default): in a process of its own.
    done = subprocess.run(
        [sys.executable, "-m", "streams", "run", "--config", str(bad), "--dev-keys", "--log-format", "text"],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert b"regions.eu.countries[0]: 'XX' is not an ISO 3166-1 country" in done.stderr


def test_an_unquoted_no_is_named_as_the_yaml_trap_it_is(tmp_path: Path) -> None:
    config = tmp_path / "no.yaml"
    regions = "  eu: {countries: [DE, NO], topic: t.eu}\n  row: {countries: '*', topic: t.row}\n"
    config.write_text(f"policy_version: x\nregions:\n{regions}")
    code, _out, err = invoke("check-config", str(config))
    assert code == 2
    assert (
        "regions.eu.countries[1]: Input should be a valid string (got False): YAML reads an unquoted NO"
        in err
    )
    assert '("NO" for Norway)' in err


def test_check_config_keys_loads_every_key_run_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for region in REGIONS:
        monkeypatch.delenv(env_var_name("RESIDENCY_GATEWAY_KEY_", region), raising=False)
    code, out, _err = invoke("check-config", str(POLICY))
    assert code == 0 and "keys: not checked" in out  # without --keys, keys aren't read
    code, _out, err = invoke("check-config", str(POLICY), "--keys")
    assert code == 2
    assert "refusing to start without pseudonymization keys" in err and "RESIDENCY_GATEWAY_KEY_CN" in err

    secret = "1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="  # 32 bytes, base64
    for region in REGIONS:
        monkeypatch.setenv(env_var_name("RESIDENCY_GATEWAY_KEY_", region), secret)
    code, out, err = invoke("check-config", str(POLICY), "--keys")
    assert code == 0, err
    assert "keys: eu v1 (" in out and "row v1 (" in out
    assert secret[2:] not in out + err  # fingerprints, never keys


def test_check_config_refuses_a_client_property_librdkafka_doesnt_know(tmp_path: Path) -> None:
    config = tmp_path / "clients.yaml"
    regions = "  eu: {countries: [EU27], topic: t.eu}\n  row: {countries: '*', topic: t.row}\n"
    clients = "kafka:\n  client_settings:\n    producer: {linger.ms: 5, lingerr.ms: 5}\n"
    config.write_text(f"policy_version: x\n{clients}regions:\n{regions}")
    code, _out, err = invoke("check-config", str(config))
    assert code == 2
    assert 'kafka.client_settings.producer.lingerr.ms: No such configuration property: "lingerr.ms"' in err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--web-port", "99999", "--dev-keys"],
        ["top", "--port", "0", "--once"],
        ["broker", "status", "--port", "70000"],
        ["demo", "--events", "0"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_number_out_of_range_is_a_usage_error_before_anything_runs(args: list[str]) -> None:
    code, _out, err = invoke(*args)
    assert code == 2 and "Invalid value for" in err and "is not in the range" in err


def test_web_port_0_means_no_web_server_not_a_port() -> None:
    from streams.cli.run import run

    option = next(p for p in run.params if p.name == "web_port")
    assert option.type.min == 0 and option.type.max == 65_535  # type: ignore[attr-defined]
