"""Reload keys while the gateway runs: a rotation applies without a restart, and stale keys fail closed.

Every `refresh_seconds` the provider is asked again. A failed reload keeps the keys
already held, but only for `max_age_seconds` after the last good load: past that the
gateway swaps in a ring that has no keys, every event that needs one raises
KeyUnavailable, and the engine holds its batches until a reload succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from streams.keys.providers import KeyProvider
from streams.keys.ring import KeyRing, KeyUnavailable

log = logging.getLogger(__name__)


class KeyRefresher:
    def __init__(
        self,
        provider: KeyProvider,
        regions: Sequence[str],
        initial: KeyRing,
        apply: Callable[[KeyRing], None],
        *,
        refresh_seconds: float,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._regions = list(regions)
        self._apply = apply
        self._refresh = refresh_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self.current = initial
        self.loaded_at = clock()
        self.stale = False
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def ring(self) -> KeyRing:
        return self.current

    def reload(self) -> None:
        """One reload attempt: on success the new ring applies; on failure, stale keys expire."""
        try:
            ring = self._provider.load(self._regions)
        except KeyUnavailable as error:
            self.failures += 1
            age = self._clock() - self.loaded_at
            # Region names and versions only: the provider's messages never hold key material.
            log.error("key reload failed (%d in a row, keys %.0f s old): %s", self.failures, age, error)
            if age > self._max_age and not self.stale:
                self.stale = True
                self.current = KeyRing([])
                self._apply(self.current)
                log.error("keys older than %.0f s: holding events until keys load again", self._max_age)
            return
        self.failures, self.stale = 0, False
        self.loaded_at = self._clock()
        self.current = ring
        self._apply(ring)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="key-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._refresh):
            self.reload()
