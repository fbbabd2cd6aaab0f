"""Kafka Connect of the broker's release, fetched through Maven the same way, for a real standalone worker."""

from __future__ import annotations

from pathlib import Path

from streams.devtools.localbroker.fetch import KAFKA_VERSION, cache_root, fetch_jars

CONNECT_STANDALONE_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"


def ensure_connect_jars() -> Path:
    """The directory of Connect's jars (runtime, file connectors, JSON converter), fetched on first use."""
    return fetch_jars(
        "connect-pom.xml",
        cache_root() / f"connect-{KAFKA_VERSION}" / "libs",
        proof=f"connect-runtime-{KAFKA_VERSION}.jar",
        what=f"Kafka Connect {KAFKA_VERSION}",
        size_hint="~35 MB",
    )
