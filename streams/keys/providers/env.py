"""Keys from environment variables `<prefix><REGION>`, one key text each."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from streams.keys.providers.key_text import KeyText, key_ring
from streams.keys.ring import Clock, KeyRing, utc_now


def env_var_name(prefix: str, region: str) -> str:
    return f"{prefix}{region.upper()}"


def env_key_texts(
    regions: Sequence[str], prefix: str, environ: Mapping[str, str]
) -> tuple[list[KeyText], list[str]]:
    """Each region's key text, and a problem for every variable that isn't set."""
    texts: list[KeyText] = []
    problems: list[str] = []
    for region in regions:
        name = env_var_name(prefix, region)
        value = environ.get(name)
        if value is None or not value.strip():
            problems.append(f"{name} is not set")
        else:
            texts.append(KeyText(region, name, value))
    return texts, problems


class EnvKeyProvider:
    def __init__(
        self, prefix: str, environ: Mapping[str, str] | None = None, *, clock: Clock = utc_now
    ) -> None:
        self.prefix = prefix
        self.description = f"environment variables {prefix}<REGION>"
        self._environ = environ
        self._clock = clock

    def load(self, regions: Sequence[str]) -> KeyRing:
        environ = os.environ if self._environ is None else self._environ
        texts, problems = env_key_texts(regions, self.prefix, environ)
        return key_ring(texts, problems, clock=self._clock)
