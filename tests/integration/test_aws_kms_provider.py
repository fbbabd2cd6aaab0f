"""The AWS KMS key provider against a real local KMS endpoint: moto's server, in a subprocess.

Not AWS itself: moto checks the encryption context like KMS does, but not IAM policies,
nor (moto 5.2) a disabled key on Decrypt, so those refusals are not tested here.
The path under test is the real one: boto3 over HTTP, `keys new --kms-key-id`, Decrypt at load.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

import streams.cli.keys as keys_command
from streams import cli
from streams.config import KeySettings, KmsSettings
from streams.keys.providers import provider_for
from streams.keys.providers.env import EnvKeyProvider
from streams.keys.ring import KeyRing, KeyUnavailable, key_fingerprint
from streams.transform.pseudonymize import pseudonym

pytestmark = pytest.mark.integration

AWS_REGION = "eu-central-1"
PREFIX = "RG_KMS_"


@dataclass
class KmsServer:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.client("kms", region_name=AWS_REGION, endpoint_url=self.url)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class StubConfig:
    keys: KeySettings
    regions: dict[str, object] = field(default_factory=lambda: {"eu": {}, "us": {}})

    def key_regions(self) -> list[str]:
        return list(self.regions)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and no real AWS config or profile that could be picked up instead."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for region in ("EU", "US"):
        monkeypatch.delenv(f"{PREFIX}{region}", raising=False)


@pytest.fixture
def kms(fake_aws: None) -> Iterator[KmsServer]:
    port = _free_port()
    moto_server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = KmsServer(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_it_answers(server)
        yield server
    finally:
        server.stop()


def _wait_until_it_answers(server: KmsServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {server.process.returncode}")
        try:
            server.client().list_keys()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def settings_for(server: KmsServer) -> KeySettings:
    return KeySettings(
        source="aws_kms", env_prefix=PREFIX, kms=KmsSettings(region_name=AWS_REGION, endpoint_url=server.url)
    )


def new_wrapped_entry(
    monkeypatch: pytest.MonkeyPatch, server: KmsServer, key_id: str, region: str, version: int
) -> str:
    """`keys new --kms-key-id` as an operator runs it; returns the entry it prints."""
    monkeypatch.setattr(keys_command, "config_or_fail", lambda _path: StubConfig(settings_for(server)))
    result = CliRunner().invoke(
        cli.main,
        ["keys", "new", "--region", region, "--version", str(version), "--kms-key-id", key_id],
    )
    assert result.exit_code == 0, result.output
    assert f"wrapped by KMS key {key_id}" in result.stderr
    return str(result.stdout.strip())


def plaintext_of(server: KmsServer, entry: str, region: str) -> bytes:
    blob = base64.b64decode(entry.partition(":")[2])
    response = server.client().decrypt(
        CiphertextBlob=blob, EncryptionContext={"residency-gateway-region": region}
    )
    return bytes(response["Plaintext"])


def load(server: KmsServer, environ: dict[str, str], regions: list[str]) -> KeyRing:
    return provider_for(settings_for(server), environ=environ).load(regions)


def test_a_kms_wrapped_key_pseudonymizes_like_its_plaintext_from_env(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.client().create_key(Description="residency-gateway test")["KeyMetadata"]["KeyId"]
    eu = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 1)
    us = new_wrapped_entry(monkeypatch, kms, key_id, "us", 1)
    plaintext = plaintext_of(kms, eu, "eu")
    assert len(plaintext) == 32
    assert base64.b64encode(plaintext).decode() not in eu  # the command printed the blob, not the key

    ring = load(kms, {f"{PREFIX}EU": eu, f"{PREFIX}US": us}, ["eu", "us"])
    plain_ring = EnvKeyProvider(PREFIX, {f"{PREFIX}EU": f"1:{base64.b64encode(plaintext).decode()}"}).load(
        ["eu"]
    )
    assert ring.for_region("eu").secret == plaintext
    assert pseudonym("ada@example.com", ring.for_region("eu")) == pseudonym(
        "ada@example.com", plain_ring.for_region("eu")
    )
    assert ring.fingerprint("eu") == plain_ring.fingerprint("eu") != ring.fingerprint("us")


def test_a_rotation_through_kms_makes_the_new_version_current(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.client().create_key()["KeyMetadata"]["KeyId"]
    old = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 1)
    new = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 2)
    ring = load(kms, {f"{PREFIX}EU": f"{new},{old}@2999-01-01T00:00:00Z"}, ["eu"])
    assert ring.for_region("eu").version == 2 and ring.versions("eu") == [1, 2]
    assert ring.version("eu", 1).secret == plaintext_of(kms, old, "eu")


def test_keys_check_reads_kms_keys_and_prints_only_fingerprints(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.client().create_key()["KeyMetadata"]["KeyId"]
    eu = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 1)
    us = new_wrapped_entry(monkeypatch, kms, key_id, "us", 1)
    monkeypatch.setenv(f"{PREFIX}EU", eu)
    monkeypatch.setenv(f"{PREFIX}US", us)
    result = CliRunner().invoke(cli.main, ["keys", "check"])
    assert result.exit_code == 0, result.output
    fingerprint = key_fingerprint(
        load(kms, {f"{PREFIX}EU": eu, f"{PREFIX}US": us}, ["eu", "us"]).for_region("eu")
    )
    assert f"  eu: version 1, fingerprint {fingerprint}: current" in result.stdout
    assert f"decrypted by AWS KMS at {kms.url}" in result.stdout
    plaintext = base64.b64encode(plaintext_of(kms, eu, "eu")).decode()
    assert plaintext not in result.output and eu.partition(":")[2] not in result.output


def test_a_blob_made_for_another_region_does_not_decrypt(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.client().create_key()["KeyMetadata"]["KeyId"]
    eu = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 1)
    with pytest.raises(KeyUnavailable) as caught:
        load(kms, {f"{PREFIX}EU": eu, f"{PREFIX}US": eu}, ["eu", "us"])
    assert caught.value.problems == (
        f"{PREFIX}US: version 1: AWS KMS could not decrypt the key of region 'us': "
        "InvalidCiphertextException",
    )
    assert eu.partition(":")[2] not in str(caught.value)


def test_an_unreachable_kms_fails_closed_naming_every_region(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id = kms.client().create_key()["KeyMetadata"]["KeyId"]
    eu = new_wrapped_entry(monkeypatch, kms, key_id, "eu", 1)
    us = new_wrapped_entry(monkeypatch, kms, key_id, "us", 2)
    kms.stop()
    started = time.monotonic()
    with pytest.raises(KeyUnavailable) as caught:
        load(kms, {f"{PREFIX}EU": eu, f"{PREFIX}US": us}, ["eu", "us"])
    assert time.monotonic() - started < 30  # short timeouts: a start-up fails fast
    assert caught.value.problems == (
        f"{PREFIX}EU: version 1: AWS KMS could not decrypt the key of region 'eu': EndpointConnectionError",
        f"{PREFIX}US: version 2: AWS KMS could not decrypt the key of region 'us': EndpointConnectionError",
    )


def test_keys_new_reports_an_unknown_kms_key_without_printing_anything(
    kms: KmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_command, "config_or_fail", lambda _path: StubConfig(settings_for(kms)))
    result = CliRunner().invoke(
        cli.main, ["keys", "new", "--region", "eu", "--kms-key-id", "00000000-0000-0000-0000-000000000000"]
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert "could not generate a data key for region 'eu'" in result.stderr
    assert "NotFoundException" in result.stderr
