"""Keys wrapped by AWS KMS: the key texts hold CiphertextBlobs, which KMS decrypts at load.

Each blob is bound to its region by the encryption context
`{"residency-gateway-region": <region>}`, so a blob made for one region can't
serve another, and an IAM condition can limit a gateway to its own regions.
boto3 is an optional extra (`residency-gateway[kms]`), imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from streams.keys.providers.key_text import KeyEntry, KeyText, key_ring
from streams.keys.ring import Clock, KeyRing, KeyUnavailable, utc_now

ENCRYPTION_CONTEXT_KEY = "residency-gateway-region"
DATA_KEY_SPEC = "AES_256"  # 32 bytes: MIN_KEY_BYTES
_MISSING_BOTO3 = "the aws_kms key source needs boto3: pip install 'residency-gateway[kms]'"

# Finds each region's key text (env or files), with a problem for every one missing.
TextSource = Callable[[Sequence[str]], tuple[list[KeyText], list[str]]]


def encryption_context(region: str) -> dict[str, str]:
    return {ENCRYPTION_CONTEXT_KEY: region}


def kms_client(region_name: str | None, endpoint_url: str | None) -> Any:
    """A boto3 KMS client with short timeouts: at start, an unreachable KMS should fail fast."""
    try:
        boto3 = importlib.import_module("boto3")
        botocore_config = importlib.import_module("botocore.config")
        botocore_exceptions = importlib.import_module("botocore.exceptions")
    except ImportError:
        raise KeyUnavailable(_MISSING_BOTO3) from None
    config = botocore_config.Config(
        connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}
    )
    try:
        return boto3.client("kms", region_name=region_name, endpoint_url=endpoint_url, config=config)
    except botocore_exceptions.NoRegionError:
        raise KeyUnavailable(
            "no AWS region for KMS: set keys.kms.region_name or AWS_REGION / AWS_DEFAULT_REGION"
        ) from None
    except (botocore_exceptions.BotoCoreError, ValueError) as exc:
        raise KeyUnavailable(f"can't set up the AWS KMS client ({type(exc).__name__})") from None


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code (AccessDeniedException...) or the client-side error's class name.

    Never the message: ours to control, it can't quote a blob or a plaintext.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def _client_errors() -> tuple[type[BaseException], ...]:
    exceptions = importlib.import_module("botocore.exceptions")
    return (exceptions.ClientError, exceptions.BotoCoreError)


def generate_wrapped_key(
    region: str, key_id: str, *, region_name: str | None = None, endpoint_url: str | None = None
) -> bytes:
    """A new 32-byte data key for `region`, as KMS's CiphertextBlob; the plaintext is dropped unseen."""
    client = kms_client(region_name, endpoint_url)
    try:
        response = client.generate_data_key(
            KeyId=key_id, KeySpec=DATA_KEY_SPEC, EncryptionContext=encryption_context(region)
        )
    except _client_errors() as exc:
        raise KeyUnavailable(
            f"AWS KMS could not generate a data key for region {region!r} with key {key_id!r}: "
            f"{aws_error_code(exc)}"
        ) from None
    return bytes(response["CiphertextBlob"])


class KmsKeyProvider:
    def __init__(
        self,
        texts: TextSource,
        texts_description: str,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._texts = texts
        self._region_name = region_name
        self._endpoint_url = endpoint_url
        self._clock = clock
        kms = f"AWS KMS at {endpoint_url}" if endpoint_url else "AWS KMS"
        self.description = f"KMS-encrypted keys in {texts_description}, decrypted by {kms}"

    def load(self, regions: Sequence[str]) -> KeyRing:
        texts, problems = self._texts(regions)
        if not texts:
            return key_ring(texts, problems, clock=self._clock)
        try:
            client = kms_client(self._region_name, self._endpoint_url)
        except KeyUnavailable as exc:
            needed = ", ".join(text.region for text in texts)
            raise KeyUnavailable(*problems, f"{exc} (regions {needed} can't be decrypted)") from None
        errors = _client_errors()

        def decrypt(text: KeyText, entry: KeyEntry) -> bytes:
            try:
                response = client.decrypt(
                    CiphertextBlob=entry.material, EncryptionContext=encryption_context(text.region)
                )
            except errors as exc:
                raise ValueError(
                    f"AWS KMS could not decrypt the key of region {text.region!r}: {aws_error_code(exc)}"
                ) from None
            return bytes(response["Plaintext"])

        return key_ring(texts, problems, unwrap=decrypt, clock=self._clock)
