"""How much one `collect` process takes: requests and events per second with keep-alive clients,
and the acknowledgement latency at half that load.

    python -m loadtests.collect_bench [--seconds 15] [--batch 20] [--connections 32] [--port 19094]

It starts a local broker of its own (port 19094), one ingest topic, and `residency-gateway collect`
as its own process; the clients are this process (asyncio + aiohttp, keep-alive connections),
posting Segment batches of `--batch` events to /v1/batch, each request waiting for its answer.

1. Saturation: `--connections` clients post as fast as answers come, for `--seconds`: requests/s,
   events/s, and the collect process's CPU per request (from /proc), so the figure can be read per
   core even though the clients share the machine.
2. Half load: requests paced at half the saturated rate for `--seconds`: p50/p99/max of the time
   from sending a request to its 200, which is the broker's acknowledgement (acks=all) plus HTTP.

It prints a table and one JSON line, and deletes its topic; a number it didn't measure is never
printed. docs/tuning.md quotes a run of it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

WRITE_KEY = "bench-key"


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _batch(size: int, counter: list[int]) -> bytes:
    events = []
    for _ in range(size):
        counter[0] += 1
        events.append(
            {
                "type": "track",
                "event": "Product Viewed",
                "userId": f"user-{counter[0] % 5000}",
                "messageId": str(uuid.uuid4()),
                "properties": {"sku": "sku-17", "price": 19.99},
                "context": {"ip": "85.195.1.1", "library": {"name": "analytics-python", "version": "2.3.4"}},
            }
        )
    return orjson.dumps({"batch": events, "sentAt": "2026-12-03T08:00:00.000Z"})


async def _saturate(url: str, seconds: float, connections: int, size: int) -> tuple[int, int, list[float]]:
    import aiohttp

    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    counter = [0]
    done = failed = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=auth) as session:

        async def client() -> None:
            nonlocal done, failed
            while time.monotonic() < deadline:
                body = _batch(size, counter)
                started = time.perf_counter()
                async with session.post(f"{url}/v1/batch", data=body) as answer:
                    await answer.read()
                    if answer.status == 200:
                        done += 1
                        latencies.append(time.perf_counter() - started)
                    else:
                        failed += 1

        await asyncio.gather(*(client() for _ in range(connections)))
    return done, failed, latencies


async def _paced(url: str, seconds: float, rate: float, size: int) -> tuple[int, int, list[float]]:
    import aiohttp

    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode(),
        "Content-Type": "application/json",
    }
    counter = [0]
    latencies: list[float] = []
    failures = [0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), headers=auth) as session:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            async with session.post(f"{url}/v1/batch", data=body) as answer:
                await answer.read()
                if answer.status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures[0] += 1

        tasks = []
        interval = 1.0 / rate
        begin = time.monotonic()
        n = 0
        while time.monotonic() - begin < seconds:
            target = begin + n * interval
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(_batch(size, counter))))
            n += 1
        await asyncio.gather(*tasks)
    return len(latencies), failures[0], latencies


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batch", type=int, default=20, help="events per request")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=19094, help="the local broker's port")
    parser.add_argument("--bootstrap", help="use this running broker instead of starting one")
    parser.add_argument("--web-port", type=int, default=18090, help="the port collect listens on")
    args = parser.parse_args()

    from loadtests.bench.topology import create_topics, delete_topics
    from streams.devtools import localbroker

    bootstrap = args.bootstrap or localbroker.start(port=args.port, timeout=120).bootstrap
    topic = f"collect-bench-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], 4)
    workdir = Path(tempfile.mkdtemp(prefix="collect-bench-"))
    policy = workdir / "policy.yaml"
    policy.write_text(
        f'policy_version: collect-bench\nkafka: {{bootstrap_servers: "{bootstrap}"}}\n'
        f"topics: {{ingest: [{topic}]}}\n"
        'regions:\n  eu: {countries: [EU27], topic: bench.eu}\n  row: {countries: "*", topic: bench.row}\n'
    )
    web_port = args.web_port
    env = {**os.environ, "RESIDENCY_GATEWAY_WRITE_KEYS": WRITE_KEY}
    command = [sys.executable, "-m", "streams", "collect", "--config", str(policy), "--port", str(web_port)]
    collect = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{web_port}"
    try:
        _wait_healthy(url)
        asyncio.run(_saturate(url, 2.0, args.connections, args.batch))  # warm up: connections, producer
        cpu_before, began = _cpu_seconds(collect.pid), time.monotonic()
        done, failed, saturated = asyncio.run(_saturate(url, args.seconds, args.connections, args.batch))
        elapsed = time.monotonic() - began
        cpu = _cpu_seconds(collect.pid) - cpu_before
        rate = done / elapsed
        half = rate / 2
        paced_done, paced_failed, latencies = asyncio.run(_paced(url, args.seconds, half, args.batch))
    finally:
        collect.terminate()
        collect.wait(30)
        delete_topics(bootstrap, [topic])
    result: dict[str, Any] = {
        "command": " ".join(["python -m loadtests.collect_bench", *sys.argv[1:]]),
        "batch_events": args.batch,
        "connections": args.connections,
        "saturated": {
            "requests_per_s": round(rate, 1),
            "events_per_s": round(rate * args.batch),
            "failed": failed,
            "collect_cpu_ms_per_request": round(1000 * cpu / max(done, 1), 3),
            "collect_cpu_share": round(cpu / elapsed, 2),
            "p50_ms": round(1000 * _quantile(saturated, 0.5), 1),
        },
        "half_load": {
            "requests_per_s": round(half, 1),
            "answered": paced_done,
            "failed": paced_failed,
            "p50_ms": round(1000 * _quantile(latencies, 0.5), 1),
            "p99_ms": round(1000 * _quantile(latencies, 0.99), 1),
            "max_ms": round(1000 * max(latencies), 1),
        },
    }
    s, h = result["saturated"], result["half_load"]
    print(
        f"collect, {args.batch} events per request, {args.connections} keep-alive connections, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"  saturated: {s['requests_per_s']} requests/s, {s['events_per_s']} events/s "
        f"({s['collect_cpu_ms_per_request']} ms of collect CPU per request, {s['collect_cpu_share']} cores), "
        f"{s['failed']} failed"
    )
    print(
        f"  half load ({h['requests_per_s']} requests/s): ack latency p50 {h['p50_ms']} ms, "
        f"p99 {h['p99_ms']} ms, max {h['max_ms']} ms, {h['failed']} failed"
    )
    print(orjson.dumps(result).decode())
    return 0 if failed == 0 and paced_failed == 0 else 1


def _wait_healthy(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("collect never answered /health")


if __name__ == "__main__":
    sys.exit(main())
