"""Start a contender's worker process and collect what it reports (loadtests/bench/worker.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from loadtests.bench.figures import Sample

# Every worker started, so that a run failing half-way leaves none behind.
_STARTED: list[WorkerProcess] = []


class WorkerFailed(Exception):
    pass


class WorkerProcess:
    def __init__(
        self,
        role: str,
        *,
        bootstrap: str,
        input_topic: str,
        prefix: str,
        partitions: int,
        logs: Path,
        output: str = "",
        expected: int = 0,
        worker_id: str = "bench-1",
        delivery: str = "exactly_once",
    ) -> None:
        self.name = f"{role} {worker_id}"
        self._stdout = logs / f"{prefix}-{worker_id}.out"
        self._report = logs / f"{prefix}-{worker_id}.json"
        self._stderr = logs / f"{prefix}-{worker_id}.err"
        command = [
            sys.executable, "-m", "loadtests.bench.worker", role,
            "--bootstrap", bootstrap, "--input", input_topic, "--prefix", prefix,
            "--partitions", str(partitions), "--output", output,
            "--expected", str(expected), "--worker-id", worker_id, "--report", str(self._report),
            "--delivery", delivery,
        ]  # fmt: skip
        with self._stdout.open("wb") as out, self._stderr.open("wb") as err:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err)
        _STARTED.append(self)

    def ready(self) -> bool:
        """Set up and waiting for `go` (gateway and passthrough workers; the faust agent starts at once)."""
        if self.process.poll() is not None:
            raise WorkerFailed(f"{self.name} exited with {self.process.returncode}{self._tail()}")
        return Path(f"{self._report}.ready").exists()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        """Ask it to finish (it stops when its stdin closes) and report."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def result(self, timeout: float) -> dict[str, Any]:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise WorkerFailed(f"{self.name} did not finish within {timeout:.0f}s{self._tail()}") from None
        if self.process.returncode != 0:
            raise WorkerFailed(f"{self.name} exited with {self.process.returncode}{self._tail()}")
        if not self._report.exists():
            raise WorkerFailed(f"{self.name} reported nothing{self._tail()}")
        report: dict[str, Any] = orjson.loads(self._report.read_bytes())
        return report

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def _tail(self) -> str:
        text = self._stderr.read_text(errors="replace").strip().splitlines()[-15:]
        return (":\n    " + "\n    ".join(text)) if text else ""


def start_together(workers: list[WorkerProcess], timeout: float = 120.0) -> None:
    """Wait until every worker is set up, then let them all go at once."""
    deadline = time.monotonic() + timeout
    while not all(worker.ready() for worker in workers):
        if time.monotonic() > deadline:
            raise WorkerFailed(f"workers not ready within {timeout:.0f}s")
        time.sleep(0.05)
    for worker in workers:
        worker.go()


def samples(report: dict[str, Any]) -> list[Sample]:
    return [(float(t), float(n), *map(float, rest)) for t, n, *rest in report["samples"]]


def kill_every_worker() -> None:
    for worker in _STARTED:
        worker.kill()
