"""`residency-gateway run` as a process of its own, for tests that drive it the way an operator does."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WORKER_READY = "[^Worker]: Ready"  # what faust's worker logs once every service has started


@dataclass
class GatewayRun:
    process: subprocess.Popen[bytes]
    log_path: Path
    code: int | None = None  # the exit code, once stopped

    @property
    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_text:
            assert time.monotonic() < deadline, f"{text!r} never logged"
            time.sleep(0.2)


@contextmanager
def gateway_running(
    config_path: Path, log_path: Path, *options: str, env: Mapping[str, str] | None = None
) -> Iterator[GatewayRun]:
    """`run --config config_path --dev-keys *options`, logging to `log_path`; SIGTERM when the block ends.

    A gateway that doesn't stop within 60 s is killed, so a failing test leaves no process behind.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams", "run", "--config", str(config_path), "--dev-keys", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    run = GatewayRun(process, log_path)
    try:
        yield run
    finally:
        # A SIGTERM while faust's worker is still joining its own group can leave it waiting out that
        # join for a minute (issue 17): on a quick test, stop it once it has said it is ready.
        deadline = time.monotonic() + 30
        while process.poll() is None and WORKER_READY not in run.log_text and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        try:
            run.code = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            run.code = process.wait(10)
