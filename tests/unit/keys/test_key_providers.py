"""Key providers and the key text they share: parsing, env, files, and the `keys` commands.

No message may carry a key: every refusal is checked against the secret's base64 text.
The config is stubbed where a command needs one, so these tests pin the key path alone.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import streams.cli.keys as keys_command
import streams.cli.run as run_command
from streams import cli
from streams.config import KeySettings, KmsSettings
from streams.keys.providers import key_location, provider_for
from streams.keys.providers.aws_kms import KmsKeyProvider
from streams.keys.providers.env import EnvKeyProvider
from streams.keys.providers.files import FileKeyProvider
from streams.keys.providers.key_text import KeyText, format_entry, key_ring, parse_key_text
from streams.keys.ring import KeyUnavailable, key_fingerprint
from streams.keys.source import configured_or_development_keys

SECRET = bytes(range(32))
SECRET_TEXT = base64.b64encode(SECRET).decode()
OTHER = b"\xfe" * 40
OTHER_TEXT = base64.b64encode(OTHER).decode()
SHORT_TEXT = base64.b64encode(b"sixteen-bytes!!!").decode()
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def at_now() -> datetime:
    return NOW


def problems_of(text: str, where: str = "RG_EU") -> list[str]:
    return parse_key_text(text, where)[1]


# --- the key text ---------------------------------------------------------------------------


def test_a_text_holds_versions_and_retire_dates() -> None:
    entries, problems = parse_key_text(f"2:{OTHER_TEXT}, 1:{SECRET_TEXT}@2026-12-31T00:00:00Z", "RG_EU")
    assert problems == []
    assert [(e.version, e.material, e.retire_after) for e in entries] == [
        (2, OTHER, None),
        (1, SECRET, datetime(2026, 12, 31, tzinfo=UTC)),
    ]


def test_url_safe_unpadded_base64_and_surrounding_whitespace_are_accepted() -> None:
    url_safe = base64.urlsafe_b64encode(OTHER).decode().rstrip("=")
    entries, problems = parse_key_text(f"  3:{url_safe}\n", "f")
    assert problems == [] and entries[0].material == OTHER


def test_a_retire_after_with_an_offset_is_converted_to_utc() -> None:
    entries, _ = parse_key_text(f"1:{SECRET_TEXT}@2026-12-31T02:00:00+02:00", "f")
    assert entries[0].retire_after == datetime(2026, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "RG_EU: is empty"),
        ("   ", "RG_EU: is empty"),
        (SECRET_TEXT, "RG_EU: expected"),  # the version forgotten
        (f"v2:{SECRET_TEXT}", "RG_EU: expected"),
        (f"0:{SECRET_TEXT}", "version of 1 or more"),
        (f"-1:{SECRET_TEXT}", "version of 1 or more"),
        ("1:", "RG_EU: the key is not valid base64"),
        ("1:not*base64!", "RG_EU: the key is not valid base64"),
        (f"1:{SECRET_TEXT}@", "RG_EU: the retire-after time is not an ISO-8601 UTC time"),
        (f"1:{SECRET_TEXT}@next tuesday", "the retire-after time is not an ISO-8601 UTC time"),
        (f"1:{SECRET_TEXT}@2026-12-31T00:00:00", "the retire-after time is not"),  # no zone
        (f"1:{SECRET_TEXT},", "RG_EU: entry 2: is empty"),
        (
            f"1:{SECRET_TEXT},2:{OTHER_TEXT},1:{OTHER_TEXT}",
            "RG_EU: entry 3: version 1 appears more than once",
        ),
    ],
)
def test_every_malformed_text_is_named_without_its_value(text: str, problem: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1 and problem in problems[0]
    for leaked in (SECRET_TEXT, OTHER_TEXT, "not*base64", "next tuesday"):
        assert leaked not in problems[0]


def test_every_problem_of_a_text_is_reported_at_once() -> None:
    problems = problems_of(f"x:{SECRET_TEXT},2:%%%@soon,,3:{OTHER_TEXT}@yesterday")
    assert problems == [
        'RG_EU: entry 1: expected "<version>:<base64 key>[@<retire-after, e.g. 2026-12-31T00:00:00Z>]" '
        "with a version of 1 or more",
        "RG_EU: entry 2: the key is not valid base64",
        "RG_EU: entry 2: the retire-after time is not an ISO-8601 UTC time such as 2026-12-31T00:00:00Z",
        "RG_EU: entry 3: is empty (a stray comma?)",
        "RG_EU: entry 4: the retire-after time is not an ISO-8601 UTC time such as 2026-12-31T00:00:00Z",
    ]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=10**6),
            st.binary(min_size=1, max_size=80),
            st.none() | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda entry: entry[0],
    )
)
def test_formatted_entries_parse_back_to_themselves(
    entries: list[tuple[int, bytes, datetime | None]],
) -> None:
    text = ",".join(format_entry(*entry) for entry in entries)
    parsed, problems = parse_key_text(text, "where")
    assert problems == []
    assert [(e.version, e.material, e.retire_after) for e in parsed] == entries


def test_a_key_shorter_than_32_bytes_is_refused_without_its_value() -> None:
    with pytest.raises(KeyUnavailable) as caught:
        key_ring([KeyText("eu", "RG_EU", f"1:{SHORT_TEXT}")], [])
    assert str(caught.value) == "RG_EU: version 1: the key has 16 bytes; at least 32 are needed"


def test_a_region_whose_every_version_is_retired_is_refused_at_load() -> None:
    text = KeyText("eu", "RG_EU", f"1:{SECRET_TEXT}@2026-01-01T00:00:00Z")
    with pytest.raises(KeyUnavailable, match="RG_EU: every version is retired"):
        key_ring([text], [], clock=at_now)


def test_an_unwrap_failure_names_where_and_version() -> None:
    def refuse(_text: KeyText, _entry: Any) -> bytes:
        raise ValueError("KMS said no")

    with pytest.raises(KeyUnavailable) as caught:
        key_ring([KeyText("eu", "RG_EU", f"4:{SECRET_TEXT}")], [], unwrap=refuse)
    assert caught.value.problems == ("RG_EU: version 4: KMS said no",)


# --- environment variables ------------------------------------------------------------------


def test_env_keys_load_with_their_versions_and_rotation_window() -> None:
    environ = {"RG_EU": f"2:{OTHER_TEXT},1:{SECRET_TEXT}@2026-12-31T00:00:00Z", "RG_US": f"1:{SECRET_TEXT}"}
    ring = EnvKeyProvider("RG_", environ, clock=at_now).load(["eu", "us"])
    assert not ring.ephemeral
    assert ring.for_region("eu").version == 2 and ring.for_region("eu").secret == OTHER
    assert ring.version("eu", 1).retire_after == datetime(2026, 12, 31, tzinfo=UTC)
    assert ring.versions("eu") == [1, 2] and ring.versions("us") == [1]


def test_every_missing_or_bad_env_key_is_named_at_once_without_its_value() -> None:
    environ = {"RG_US": f"1:{SHORT_TEXT}", "RG_IN": "no-version", "RG_ROW": f"1:{SECRET_TEXT}@garbage"}
    with pytest.raises(KeyUnavailable) as caught:
        EnvKeyProvider("RG_", environ).load(["eu", "us", "in", "row"])
    message = str(caught.value)
    assert caught.value.problems[0] == "RG_EU is not set"
    assert "RG_US: version 1: the key has 16 bytes" in message
    assert "RG_IN: expected" in message
    assert "RG_ROW: the retire-after time" in message
    for leaked in (SHORT_TEXT, SECRET_TEXT, "no-version", "garbage"):
        assert leaked not in message


def test_the_env_provider_reads_the_environment_at_each_load(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = EnvKeyProvider("RG_TEST_")
    monkeypatch.setenv("RG_TEST_EU", f"1:{SECRET_TEXT}")
    assert provider.load(["eu"]).for_region("eu").version == 1
    monkeypatch.setenv("RG_TEST_EU", f"2:{OTHER_TEXT},1:{SECRET_TEXT}@2099-01-01T00:00:00Z")
    assert provider.load(["eu"]).for_region("eu").version == 2  # a rotation is seen on reload
    assert provider.description == "environment variables RG_TEST_<REGION>"


# --- key files ------------------------------------------------------------------------------


def write_key(directory: Path, region: str, text: str, mode: int = 0o400) -> Path:
    path = directory / f"{region}.key"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_key_files_load_like_env_keys(tmp_path: Path) -> None:
    write_key(tmp_path, "eu", f"2:{OTHER_TEXT},1:{SECRET_TEXT}@2026-12-31T00:00:00Z\n")
    write_key(tmp_path, "us", f"1:{SECRET_TEXT}\n", mode=0o440)  # group-readable: fsGroup setups
    ring = FileKeyProvider(tmp_path, clock=at_now).load(["eu", "us"])
    assert ring.for_region("eu").secret == OTHER and ring.version("eu", 1).secret == SECRET
    assert ring.for_region("us").version == 1


def test_a_kubernetes_style_symlinked_key_file_is_read(tmp_path: Path) -> None:
    data = tmp_path / "..data"
    data.mkdir()
    write_key(data, "eu", f"1:{SECRET_TEXT}")
    (tmp_path / "eu.key").symlink_to(data / "eu.key")
    assert FileKeyProvider(tmp_path).load(["eu"]).for_region("eu").secret == SECRET


def test_a_world_readable_key_file_is_refused_like_ssh_does(tmp_path: Path) -> None:
    path = write_key(tmp_path, "eu", f"1:{SECRET_TEXT}", mode=0o644)
    with pytest.raises(KeyUnavailable) as caught:
        FileKeyProvider(tmp_path).load(["eu"])
    message = str(caught.value)
    assert message.startswith(f"{path}: the key file is readable by every user (mode 0644)")
    assert "0400" in message and SECRET_TEXT not in message


def test_every_key_file_problem_is_reported_at_once(tmp_path: Path) -> None:
    write_key(tmp_path, "us", f"1:{SHORT_TEXT}")
    write_key(tmp_path, "row", f"1:{SECRET_TEXT}", mode=0o604)
    (tmp_path / "in.key").write_bytes(b"\xff\xfe")
    (tmp_path / "in.key").chmod(0o400)
    with pytest.raises(KeyUnavailable) as caught:
        FileKeyProvider(tmp_path).load(["eu", "us", "in", "row"])
    assert caught.value.problems == (
        f"{tmp_path}/eu.key: the key file does not exist",
        f"{tmp_path}/in.key: the key file is not UTF-8 text",
        f"{tmp_path}/row.key: the key file is readable by every user (mode 0604); refusing to use it. "
        "Make it 0400 or 0440 (chmod o-rwx, or defaultMode: 0400 on the secret volume)",
        f"{tmp_path}/us.key: version 1: the key has 16 bytes; at least 32 are needed",
    )


def test_a_missing_key_directory_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable, match="the key directory does not exist"):
        FileKeyProvider(tmp_path / "absent").load(["eu", "us"])


# --- choosing a provider --------------------------------------------------------------------


def test_provider_for_follows_keys_source(tmp_path: Path) -> None:
    assert isinstance(provider_for(KeySettings()), EnvKeyProvider)
    assert isinstance(provider_for(KeySettings(source="file", directory=str(tmp_path))), FileKeyProvider)
    kms = provider_for(KeySettings(source="aws_kms", kms=KmsSettings(endpoint_url="http://127.0.0.1:1")))
    assert isinstance(kms, KmsKeyProvider)
    assert kms.description == (
        "KMS-encrypted keys in environment variables RESIDENCY_GATEWAY_KEY_<REGION>, "
        "decrypted by AWS KMS at http://127.0.0.1:1"
    )
    from_files = provider_for(KeySettings(source="aws_kms", directory="/run/secrets/rg"))
    assert "key files /run/secrets/rg/<region>.key" in from_files.description


def test_a_file_source_without_a_directory_is_refused() -> None:
    with pytest.raises(KeyUnavailable, match=r"keys\.directory is not set"):
        provider_for(KeySettings(source="file"))


def test_key_location_names_the_variable_or_the_file() -> None:
    assert key_location(KeySettings(), "eu") == "RESIDENCY_GATEWAY_KEY_EU"
    assert key_location(KeySettings(source="file", directory="/s"), "eu") == "/s/eu.key"
    assert key_location(KeySettings(source="aws_kms"), "eu") == "RESIDENCY_GATEWAY_KEY_EU"


@dataclass
class StubConfig:
    """The two things key selection reads from a config."""

    keys: KeySettings = field(default_factory=KeySettings)
    regions: dict[str, object] = field(default_factory=lambda: {"eu": {}, "us": {}, "cn": {}})
    needing_keys: list[str] = field(default_factory=lambda: ["eu", "us"])

    def key_regions(self) -> list[str]:
        return list(self.needing_keys)


def test_explain_uses_development_keys_when_none_are_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RESIDENCY_GATEWAY_KEY_EU", raising=False)
    monkeypatch.delenv("RESIDENCY_GATEWAY_KEY_US", raising=False)
    ring = configured_or_development_keys(StubConfig())  # type: ignore[arg-type]
    assert ring.ephemeral
    assert "ephemeral development keys for eu, us" in capsys.readouterr().err


def test_explain_refuses_partly_configured_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESIDENCY_GATEWAY_KEY_EU", f"1:{SECRET_TEXT}")
    monkeypatch.delenv("RESIDENCY_GATEWAY_KEY_US", raising=False)
    with pytest.raises(KeyUnavailable, match="RESIDENCY_GATEWAY_KEY_US is not set"):
        configured_or_development_keys(StubConfig())  # type: ignore[arg-type]


def test_explain_uses_key_files_when_the_directory_holds_any(tmp_path: Path) -> None:
    settings = KeySettings(source="file", directory=str(tmp_path))
    assert configured_or_development_keys(StubConfig(keys=settings)).ephemeral  # type: ignore[arg-type]
    write_key(tmp_path, "eu", f"1:{SECRET_TEXT}")
    write_key(tmp_path, "us", f"1:{OTHER_TEXT}")
    ring = configured_or_development_keys(StubConfig(keys=settings))  # type: ignore[arg-type]
    assert not ring.ephemeral and ring.for_region("us").secret == OTHER


def test_explain_never_invents_keys_for_the_kms_source() -> None:
    settings = KeySettings(source="aws_kms", env_prefix="RG_NONE_", kms=KmsSettings(region_name="eu-west-1"))
    with pytest.raises(KeyUnavailable, match="RG_NONE_EU is not set"):
        configured_or_development_keys(StubConfig(keys=settings))  # type: ignore[arg-type]


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture
def stub_config(monkeypatch: pytest.MonkeyPatch) -> StubConfig:
    config = StubConfig(keys=KeySettings(env_prefix="RG_CLI_"))
    for command in (keys_command, run_command):  # each command module reads its config through this
        monkeypatch.setattr(command, "config_or_fail", lambda _path: config)
    for region in ("EU", "US", "CN"):
        monkeypatch.delenv(f"RG_CLI_{region}", raising=False)
    return config


def test_keys_new_prints_one_entry_that_loads(stub_config: StubConfig) -> None:
    result = CliRunner().invoke(cli.main, ["keys", "new", "--region", "eu", "--version", "3"])
    assert result.exit_code == 0, result.output
    entry = result.stdout.strip()
    assert entry.startswith("3:") and "\n" not in entry
    ring = EnvKeyProvider("RG_CLI_", {"RG_CLI_EU": entry}).load(["eu"])
    assert ring.for_region("eu").version == 3 and len(ring.for_region("eu").secret) == 32
    assert "goes first in RG_CLI_EU" in result.stderr


def test_keys_new_refuses_a_region_outside_the_config(stub_config: StubConfig) -> None:
    result = CliRunner().invoke(cli.main, ["keys", "new", "--region", "mars"])
    assert result.exit_code == 2 and "'mars' is not a region" in result.stderr


def test_keys_new_for_a_kms_config_needs_a_kms_key(stub_config: StubConfig) -> None:
    stub_config.keys = KeySettings(source="aws_kms")
    result = CliRunner().invoke(cli.main, ["keys", "new", "--region", "eu"])
    assert result.exit_code == 2 and "--kms-key-id" in result.stderr and result.stdout == ""


def test_keys_check_lists_versions_and_fingerprints_never_secrets(
    stub_config: StubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setenv(
        "RG_CLI_EU", f"3:{OTHER_TEXT},2:{SECRET_TEXT}@2999-01-01T00:00:00Z,1:{SECRET_TEXT}@{past}"
    )
    monkeypatch.setenv("RG_CLI_US", f"1:{SECRET_TEXT}")
    result = CliRunner().invoke(cli.main, ["keys", "check"])
    assert result.exit_code == 0, result.output
    ring = EnvKeyProvider("RG_CLI_").load(["eu", "us"])
    fp_other, fp_secret = key_fingerprint(ring.version("eu", 3)), key_fingerprint(ring.version("eu", 2))
    assert result.stdout.splitlines() == [
        "keys from environment variables RG_CLI_<REGION>: ok (2 regions)",
        f"  eu: version 3, fingerprint {fp_other}: current",
        f"  eu: version 2, fingerprint {fp_secret}: resolvable until 2999-01-01T00:00:00Z",
        f"  eu: version 1, fingerprint {fp_secret}: retired after {past}; remove it",
        f"  us: version 1, fingerprint {fp_secret}: current",
    ]
    assert SECRET_TEXT not in result.output and OTHER_TEXT not in result.output


def test_keys_check_exits_2_with_every_problem(
    stub_config: StubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_CLI_US", f"1:{SHORT_TEXT}")
    result = CliRunner().invoke(cli.main, ["keys", "check"])
    assert result.exit_code == 2  # a config matter, as for every command (README: exit codes)
    assert result.stderr.splitlines() == [
        "residency-gateway: keys (env): 2 problems",
        "  RG_CLI_EU is not set",
        "  RG_CLI_US: version 1: the key has 16 bytes; at least 32 are needed",
    ]
    assert SHORT_TEXT not in result.output


def test_run_refuses_to_start_without_keys_and_says_where_they_go(
    stub_config: StubConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_command.keys_or_fail(stub_config, dev_keys=False)  # type: ignore[arg-type]
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "refusing to start without pseudonymization keys:\n  RG_CLI_EU is not set\n" in err
    assert "in RG_CLI_EU, RG_CLI_US" in err and "--dev-keys" in err


def test_run_logs_the_fingerprints_of_the_keys_it_uses(
    stub_config: StubConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RG_CLI_EU", f"1:{SECRET_TEXT}")
    monkeypatch.setenv("RG_CLI_US", f"1:{SECRET_TEXT}")
    with caplog.at_level("INFO", logger="streams.cli"):
        ring = run_command.keys_or_fail(stub_config, dev_keys=False)  # type: ignore[arg-type]
    logged = caplog.text
    assert f"eu v1 ({ring.fingerprint('eu')})" in logged and SECRET_TEXT not in logged
    assert [r.key_versions for r in caplog.records] == [{"eu": 1, "us": 1}]  # type: ignore[attr-defined]
    assert run_command.keys_or_fail(stub_config, dev_keys=True).ephemeral  # type: ignore[arg-type]
