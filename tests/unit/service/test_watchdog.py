"""The worker's watchdog: an engine stuck in a commit past its limit makes the worker exit with 70.

librdkafka can block in send_offsets_to_transaction past its timeout (issues 5456 and
5511), and a blocked C call can't be interrupted from Python. The worker exits so its
supervisor restarts it. Each case runs a real EngineService in a process of its own,
because the watchdog ends the process; the engine is a GatewayEngine whose run() stands
where librdkafka would hang, so no broker is needed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from streams.service.worker import STALLED_EXIT_CODE

_WORKER = textwrap.dedent(
    """
    import asyncio, logging, sys, threading, time

    from streams.config import load_config
    from streams.kafka.engine import GatewayEngine
    from streams.keys.ring import development_keys
    from streams.pipeline import Pipeline
    from streams.service.worker import EngineService

    STUCK = sys.argv[1] == "stuck"


    class Engine(GatewayEngine):
        def run(self, stop, on_ready=None):
            on_ready()
            if STUCK:  # inside a commit that never returns
                self.committing_since = time.monotonic()
            stop.wait()


    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    config = load_config(None)
    engine = Engine(Pipeline(config, development_keys(config.key_regions())), {}, {}, [], 1, 0.1)
    engine.stall_limit = 0.5


    async def main():
        service = EngineService(engine)
        await service.start()
        await asyncio.sleep(3)
        print("still running", flush=True)
        await service.stop()


    asyncio.run(main())
    """
)


def _worker(case: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WORKER, case], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_worker_whose_engine_is_stuck_committing_exits_for_its_supervisor() -> None:
    done = _worker("stuck")
    assert done.returncode == STALLED_EXIT_CODE, done.stderr
    assert "stuck committing" in done.stderr
    assert "still running" not in done.stdout


def test_a_worker_whose_engine_commits_keeps_running() -> None:
    done = _worker("committing")
    assert done.returncode == 0, done.stderr
    assert "still running" in done.stdout
    assert "stuck committing" not in done.stderr
