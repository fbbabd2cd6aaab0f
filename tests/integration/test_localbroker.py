"""The embedded broker command: status, and reuse when started twice."""

import pytest

from streams.devtools import localbroker

pytestmark = pytest.mark.integration


def test_status_reports_the_running_pinned_broker(kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    status = localbroker.status(port)
    assert status.running and status.version == localbroker.KAFKA_VERSION == "4.1.1"
    assert status.bootstrap == kafka_bootstrap


def test_starting_twice_reuses_the_running_broker(kafka_bootstrap: str) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    again = localbroker.start(port=port)
    assert again.running and again.reused


def test_status_of_a_port_with_no_broker_says_not_running() -> None:
    status = localbroker.status(port=1)
    assert not status.running and status.pid is None
