"""Keys reloaded while running: a rotation applies at once, and keys that can't be reloaded expire closed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from streams.keys.refresh import KeyRefresher
from streams.keys.ring import KeyRing, KeyUnavailable, PseudonymKey

V1 = KeyRing([PseudonymKey("eu", 1, b"a" * 32)])
V2 = KeyRing([PseudonymKey("eu", 2, b"b" * 32), PseudonymKey("eu", 1, b"a" * 32)])


class Provider:
    description = "a test provider"

    def __init__(self) -> None:
        self.answer: KeyRing | None = V2

    def load(self, regions: Sequence[str]) -> KeyRing:
        if self.answer is None:
            raise KeyUnavailable("the key service is unreachable")
        return self.answer


def refresher(provider: Provider, applied: list[KeyRing], now: list[float]) -> KeyRefresher:
    return KeyRefresher(provider, ["eu"], V1, applied.append, refresh_seconds=1, max_age_seconds=60,
                        clock=lambda: now[0])  # fmt: skip


def test_a_rotation_applies_on_the_next_reload() -> None:
    applied: list[KeyRing] = []
    keys = refresher(Provider(), applied, [0.0])
    keys.reload()
    assert applied == [V2] and keys.ring().for_region("eu").version == 2


def test_failed_reloads_keep_the_keys_until_they_are_too_old_then_hold() -> None:
    provider, applied, now = Provider(), [], [0.0]
    keys = refresher(provider, applied, now)
    provider.answer = None
    now[0] = 59.0
    keys.reload()
    assert applied == [] and keys.ring() is V1 and not keys.stale
    now[0] = 61.0
    keys.reload()
    assert keys.stale and applied == [keys.ring()]
    with pytest.raises(KeyUnavailable):
        keys.ring().for_region("eu")  # every event needing a key is now held, never sent in the clear
    provider.answer = V2
    keys.reload()
    assert not keys.stale and applied[-1] is V2 and keys.failures == 0
