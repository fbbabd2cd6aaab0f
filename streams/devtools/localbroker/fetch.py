"""Fetch the pinned Kafka release and its runtime dependencies through Maven, into a cache outside git."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

# docker-compose.yml pins the same release (apache/kafka image).
KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"  # the log4j2 that Kafka 4.1 itself depends on
_COMPLETE_MARKER = ".complete"


class BrokerError(Exception):
    """The local broker can't be fetched, started or reached; the message says what to do."""


def cache_root() -> Path:
    configured = os.environ.get("RESIDENCY_GATEWAY_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "residency-gateway"


def ensure_jars() -> Path:
    """The directory of Kafka's jars, fetching them on first use (a marker proves a whole download)."""
    return fetch_jars(
        "pom.xml",
        cache_root() / f"kafka-{KAFKA_VERSION}" / "libs",
        proof=f"kafka_2.13-{KAFKA_VERSION}.jar",
        what=f"Kafka {KAFKA_VERSION}",
        size_hint="~45 MB",
    )


def fetch_jars(pom_name: str, libs: Path, *, proof: str, what: str, size_hint: str) -> Path:
    """`libs` holding the runtime dependencies of this package's `pom_name`, fetched once.

    `proof` is a jar that must be there afterwards; a marker written last proves a whole download.
    """
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError(f"Maven (mvn) is not installed; it fetches {what} from Maven Central")
    if shutil.which("java") is None:
        raise BrokerError("Java is not installed; Kafka needs Java 17 or newer")
    if libs.exists():
        shutil.rmtree(libs)  # a half download from an interrupted run
    libs.mkdir(parents=True)
    print(
        f"residency-gateway: fetching {what} through Maven into {libs} (first run only, {size_hint})...",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    with resources.as_file(resources.files("streams.devtools.localbroker").joinpath(pom_name)) as pom:
        done = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(pom),
                f"-Dkafka.version={KAFKA_VERSION}",
                f"-Dlog4j.version={LOG4J_VERSION}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"Maven could not fetch {what}:\n{tail}")
    if not (libs / proof).exists():
        raise BrokerError(f"Maven finished but {proof} is not in {libs}")
    (libs / _COMPLETE_MARKER).write_text(KAFKA_VERSION)
    size = sum(f.stat().st_size for f in libs.iterdir()) / 1e6
    print(
        f"residency-gateway: fetched {size:.0f} MB in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
        flush=True,
    )
    return libs
