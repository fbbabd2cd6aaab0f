"""Shared fixtures. Integration tests get the real local Kafka broker, started here if needed.

There is no skip: if the broker can't start, every integration test errors, and CI fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from streams.devtools import localbroker

# CI replays the same examples on every run (derandomized), so a red build is reproducible;
# locally each run explores new ones. HYPOTHESIS_PROFILE=ci picks the CI profile anywhere.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    port = int(os.environ.get("RESIDENCY_GATEWAY_TEST_KAFKA_PORT", "19092"))
    already_running = localbroker.status(port).running
    status = localbroker.start(port=port, timeout=120)
    yield status.bootstrap
    # Leave a broker we found running alone; stop one we started, so CI leaves nothing behind.
    if not already_running:
        localbroker.stop(port)


_INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tiers stay apart: every test under tests/integration is marked integration, no other is,
    and only those may use the broker, so `-m "not integration"` runs everything with no broker."""
    for item in items:
        under = _INTEGRATION in Path(str(item.fspath)).resolve().parents
        marked = item.get_closest_marker("integration") is not None
        if under != marked:
            raise pytest.UsageError(
                f"{item.nodeid}: tests under tests/integration are marked integration, and only they"
            )
        if not under and "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: uses the broker, so it belongs in tests/integration")
