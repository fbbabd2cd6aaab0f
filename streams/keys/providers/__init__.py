"""Where pseudonymization keys come from: env variables, key files, or KMS-wrapped keys.

Every provider reads the same key text (`key_text`), and `load` either returns a
ring with a current key for every region asked for, or raises KeyUnavailable
listing every problem, never a key's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Protocol

from streams.config import KeySettings
from streams.keys.providers.aws_kms import KmsKeyProvider
from streams.keys.providers.env import EnvKeyProvider, env_key_texts, env_var_name
from streams.keys.providers.files import FileKeyProvider, file_key_texts, key_file_path
from streams.keys.providers.key_text import KeyText
from streams.keys.ring import Clock, KeyRing, KeyUnavailable, utc_now

__all__ = ["KeyProvider", "key_location", "provider_for"]


class KeyProvider(Protocol):
    # Where keys come from, for messages and logs: "environment variables RESIDENCY_GATEWAY_KEY_<REGION>".
    description: str

    def load(self, regions: Sequence[str]) -> KeyRing:
        """A ring with a current key for every region; KeyUnavailable listing every problem otherwise."""
        ...


def provider_for(
    settings: KeySettings, *, environ: Mapping[str, str] | None = None, clock: Clock = utc_now
) -> KeyProvider:
    """The provider `keys.source` names. KeyUnavailable when the settings can't name a place."""
    if settings.source == "env":
        return EnvKeyProvider(settings.env_prefix, environ, clock=clock)
    if settings.source == "file":
        if settings.directory is None:
            raise KeyUnavailable("keys.source is 'file' but keys.directory is not set")
        return FileKeyProvider(settings.directory, clock=clock)
    if settings.directory is not None:
        texts = partial(file_key_texts, directory=settings.directory)
        where = FileKeyProvider(settings.directory).description
    else:
        texts = partial(_env_texts, prefix=settings.env_prefix, environ=environ)
        where = EnvKeyProvider(settings.env_prefix).description
    return KmsKeyProvider(
        texts,
        where,
        region_name=settings.kms.region_name,
        endpoint_url=settings.kms.endpoint_url,
        clock=clock,
    )


def key_location(settings: KeySettings, region: str) -> str:
    """Where a region's key text goes: an env variable's name or a file's path."""
    if settings.directory is not None and settings.source != "env":
        return str(key_file_path(settings.directory, region))
    return env_var_name(settings.env_prefix, region)


def _env_texts(
    regions: Sequence[str], prefix: str, environ: Mapping[str, str] | None
) -> tuple[list[KeyText], list[str]]:
    # os.environ is read at each load, not at construction: a refresh sees a rotated key.
    return env_key_texts(regions, prefix, os.environ if environ is None else environ)
