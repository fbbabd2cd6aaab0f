"""The faust-streaming worker that hosts the gateway: lifecycle, signals, the web server.

faust's per-event stream machinery costs ~20 µs an event, more than the whole
gateway budget, so the hot path does not run as a faust agent. It runs in the
engine's own thread on confluent-kafka batches (librdkafka releases the GIL
while it waits), and this worker starts it, watches it, and stops it cleanly.
If the engine fails, the worker crashes with a non-zero exit so a supervisor
restarts it from the last committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import faust
from faust.types.auth import CredentialsT
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST

from streams.kafka.engine import GatewayEngine
from streams.kafka.lag import LagReader
from streams.kafka.oauth import ClientCredentialsTokens
from streams.rollout import PolicyLog
from streams.service.metrics import engine_registry, render

log = logging.getLogger(__name__)

# The worker exits with this code when its engine is stuck in a Kafka call (sysexits' EX_SOFTWARE).
STALLED_EXIT_CODE = 70


class EngineService(Service):
    """Runs a GatewayEngine in a thread for as long as the worker runs."""

    def __init__(
        self,
        engine: GatewayEngine,
        policies: PolicyLog | None = None,
        reload_file: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        # The policies this worker switched to and refused, and what SIGHUP runs: re-read --config.
        self.policies = policies
        self._reload_file = reload_file
        self.watching_policy_topic = False
        self.ready = threading.Event()
        self._stop_engine = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.started_at = time.time()

    async def on_start(self) -> None:
        self._thread = threading.Thread(target=self._run_engine, name="gateway-engine", daemon=True)
        self._thread.start()
        if self._reload_file is not None:
            loop = asyncio.get_running_loop()
            reload_file = self._reload_file
            # Reading and validating a policy takes a moment (a geolocation file to open): off the loop.
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload_file))

    def _run_engine(self) -> None:
        try:
            self.engine.run(self._stop_engine, on_ready=self.ready.set)
        except BaseException as exc:  # handed to the supervisor task, which crashes the worker
            self._failure = exc
        else:
            log.info("gateway engine stopped: its last batch committed or aborted, its clients closed")

    @Service.task
    async def _supervise(self) -> None:
        while not self.should_stop:
            since = self.engine.committing_since
            if since is not None and time.monotonic() - since > self.engine.stall_limit:
                # A Kafka call that ignores its timeout can't be interrupted from Python. Nothing of
                # the open batch is committed, so exiting is safe: the supervisor restarts the worker,
                # whose init_transactions aborts the batch's transaction, and the batch runs again.
                log.critical(
                    "gateway engine stuck committing for %.0f s (limit %.0f s); exiting for a restart",
                    time.monotonic() - since,
                    self.engine.stall_limit,
                )
                logging.shutdown()
                os._exit(STALLED_EXIT_CODE)
            thread = self._thread
            if thread is not None and not thread.is_alive():
                if self._failure is not None:
                    log.error("gateway engine failed: %s", self._failure)
                    await self.crash(self._failure)
                return
            await self.sleep(0.2)

    def begin_stop(self) -> None:
        """Stop the engine after its batch, and exit by kafka.stop_timeout_ms from now whatever else
        is still stopping: faust's own consumer may spend a minute leaving a group that still holds
        dead members (issue 17). Called at the SIGTERM itself (GatewayWorker) and again, harmlessly,
        when faust stops this service."""
        if self._stop_engine.is_set():
            return
        self._stop_engine.set()
        _exit_by(time.monotonic() + self.engine.config.kafka.stop_timeout_ms / 1000, self)

    async def on_stop(self) -> None:
        self.begin_stop()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def health(self) -> dict[str, Any]:
        stats = self.engine.stats
        alive = self._thread is not None and self._thread.is_alive()
        holding = stats.keys_unavailable_since is not None
        status = "ok" if alive and self.ready.is_set() else "starting" if alive else "failed"
        return {
            # Holding events for want of a key is alive but not ready: nothing is being routed.
            "status": "holding: keys unavailable" if alive and holding else status,
            "records_in": stats.records_in,
            "events_out": stats.events_out,
            "audit_records": stats.audit_records,
            "audited_events": stats.audited_events,
            "erasures": stats.erasures,
            "key_waits": stats.key_waits,
            "keys_unavailable_since": stats.keys_unavailable_since,
            "batches": stats.batches,
            "last_commit_at": stats.last_commit_at or None,
            "uptime_s": round(time.time() - self.started_at, 1),
            **({} if self.policies is None else {"policy": {
                **self.policies.health(self.engine.config, self.engine.pipeline.policy_hash),
                "watching_policy_topic": self.watching_policy_topic,
            }}),
        }  # fmt: skip


class GatewayWorker(faust.Worker):
    """faust's worker, whose SIGTERM and SIGINT start the engine's stop and its bound at once, not
    when faust gets round to stopping the engine's service behind its own consumer."""

    def __init__(self, app: faust.App, service: EngineService, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._gateway_service = service

    def _schedule_shutdown(self, signal: Any) -> None:
        self._gateway_service.begin_stop()
        super()._schedule_shutdown(signal)

    @property
    def shortlabel(self) -> str:
        # faust's own name in its log lines (`[^Worker]: Ready`), which operators and tests look for.
        return "Worker"


def _exit_by(deadline: float, service: EngineService) -> None:
    """Exit the process at `deadline` if it is still running: 0 when the engine stopped cleanly
    (nothing of it is open), 1 when it failed or is still running (its open transaction is then
    aborted by the broker or the next instance, so nothing half-done is ever visible)."""

    def watch() -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        engine = service._thread
        running = engine is not None and engine.is_alive()
        clean = not running and service._failure is None
        if clean:
            log.warning("stopped; faust's consumer hadn't left its group by kafka.stop_timeout_ms: exiting")
        elif running:
            log.critical("gateway engine still running at kafka.stop_timeout_ms: exiting uncommitted")
        else:
            log.critical("gateway engine failed (%s): exiting", service._failure)
        logging.shutdown()
        os._exit(0 if clean else 1)

    threading.Thread(target=watch, name="stop-deadline", daemon=True).start()


def broker_credentials(login: Mapping[str, Any]) -> CredentialsT | None:
    """faust's (aiokafka's) form of a librdkafka login from streams.kafka.clients.client_security.

    One source for both clients: the engine and faust's worker log in as the same principal, with
    the same CA, client certificate or OAuth client.
    """
    protocol = login.get("security.protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    if protocol not in {"SSL", "SASL_PLAINTEXT", "SASL_SSL"}:
        raise ValueError(f"faust can't log in over security.protocol {protocol!r}")
    context = None
    if protocol in {"SSL", "SASL_SSL"}:
        # librdkafka's ssl.ca.location may name a bundle or a directory of certificates.
        ca = login.get("ssl.ca.location")
        is_dir = ca is not None and os.path.isdir(ca)
        context = ssl.create_default_context(cafile=None if is_dir else ca, capath=ca if is_dir else None)
    if protocol == "SSL":
        assert context is not None
        context.load_cert_chain(
            login["ssl.certificate.location"], login["ssl.key.location"], login.get("ssl.key.password")
        )
        return faust.SSLCredentials(context)
    if login["sasl.mechanism"] == "OAUTHBEARER":
        return faust.OAuthCredentials(
            oauth_cb=ClientCredentialsTokens.from_librdkafka(login), ssl_context=context
        )
    # Its repr names the user only, so a logged setting never shows the password.
    return faust.SASLCredentials(
        username=login["sasl.username"],
        password=login["sasl.password"],
        mechanism=login["sasl.mechanism"],
        ssl_context=context,
    )


def build_app(
    app_id: str,
    bootstrap: str,
    engine: GatewayEngine,
    topic_regions: Mapping[str, str],
    web_port: int | None,
    web_host: str = "127.0.0.1",
    login: Mapping[str, Any] | None = None,
    lag: LagReader | None = None,
    geolocation_built: date | Callable[[], date | None] | None = None,
    policies: PolicyLog | None = None,
    reload_file: Callable[[], None] | None = None,
) -> tuple[faust.App, EngineService]:
    """The worker hosting `engine`, and the service that runs it (GatewayWorker needs it); `login` is
    the gateway's client_security settings, if any; `lag` reads the group's consumer lag for
    /metrics; `geolocation_built` is the IP data's day (a callable: the loaded data's, as it changes)."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=broker_credentials(login or {}),
        autodiscover=False,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind=web_host,
        web_host=web_host,
        # The hot path commits its own offsets; faust's consumer serves control streams only. The
        # topics faust declares (its leader-assignor topic) take the config's replication factor:
        # clusters that enforce a minimum refuse 1 (faust-streaming issues 449 and 450).
        topic_replication_factor=engine.config.kafka.replication_factor,
    )
    service = EngineService(engine, policies, reload_file, loop=app.loop, beacon=app.beacon)
    app.add_dependency(service)

    @app.page("/health")
    async def health(_web: Any, request: Any) -> Any:
        report = service.health()
        return _web.json(report, status=200 if report["status"] == "ok" else 503)

    registry = engine_registry(
        engine.stats, topic_regions, lag, geolocation_built, config=engine.config, process=True,
        running_policy=lambda: (engine.config.policy_version, engine.pipeline.policy_hash),
        policies=policies,
    )  # fmt: skip

    @app.page("/metrics")
    async def metrics(_web: Any, request: Any) -> Any:
        # Reading the lag asks Kafka (at most every few seconds): off the event loop, so a slow
        # broker delays the scrape and never faust's own heartbeats.
        body = await asyncio.get_running_loop().run_in_executor(None, render, registry)
        # aiohttp refuses a charset in content_type, so the exposition type goes in as a header.
        return _web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app, service
