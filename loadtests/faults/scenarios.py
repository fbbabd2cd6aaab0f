"""The five fault scenarios of issue 5. Each sends numbered canaries while it injects its fault."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from loadtests.faults.events import CanaryEvent, CanaryFactory
from loadtests.faults.harness import Scenario, say
from loadtests.faults.verdict import Verdict
from streams.devtools import localbroker


def _traffic(scenario: Scenario, count: int, poison_every: int = 0) -> list[CanaryEvent]:
    factory = CanaryFactory(scenario.run)
    return [
        factory.poison(n) if poison_every and n % poison_every == 0 else factory.event(n)
        for n in range(count)
    ]


def _at(*fractions: float) -> Callable[[float, Callable[[int], None]], None]:
    """Fire `action(i)` once as the share of events sent passes each fraction."""
    fired: set[int] = set()

    def check(sent: float, action: Callable[[int], None]) -> None:
        for i, fraction in enumerate(fractions):
            if sent >= fraction and i not in fired:
                fired.add(i)
                action(i)

    return check


def kill9(bootstrap: str, workdir: Path, events: int, rate: float, port: int) -> Verdict:
    """(a) kill -9 the gateway three times mid-stream; the supervisor starts it again each time."""
    scenario = Scenario("kill9", bootstrap, workdir)
    gateway = scenario.start_gateway("w1")
    gateway.wait_ready()
    schedule = _at(0.2, 0.45, 0.7)

    def fault(i: int) -> None:
        say(f"      kill -9 #{i + 1} of the gateway (pid {gateway.process.pid})")
        gateway.kill9()
        gateway.start()

    scenario.produce(_traffic(scenario, events), rate, lambda sent: schedule(sent, fault))
    return _finish(scenario)


def broker_restart(bootstrap: str, workdir: Path, events: int, rate: float, port: int) -> Verdict:
    """(b) stop and start the broker mid-stream, with the gateway running."""
    scenario = Scenario("broker-restart", bootstrap, workdir)
    scenario.start_gateway("w1").wait_ready()
    schedule = _at(0.4)

    def fault(_i: int) -> None:
        say("      stopping the broker")
        localbroker.stop(port)
        time.sleep(3)
        say("      starting the broker again")
        localbroker.start(port=port, timeout=120)

    scenario.produce(_traffic(scenario, events), rate, lambda sent: schedule(sent, fault))
    return _finish(scenario)


def rebalance(bootstrap: str, workdir: Path, events: int, rate: float, port: int) -> Verdict:
    """(c) two workers in one group: a second joins mid-stream, then the first leaves."""
    scenario = Scenario("rebalance", bootstrap, workdir)
    scenario.start_gateway("w1").wait_ready()
    schedule = _at(0.3, 0.65)

    def fault(i: int) -> None:
        if i == 0:
            say("      worker w2 joins the group")
            scenario.start_gateway("w2")
        else:
            say("      worker w1 leaves the group (SIGTERM)")
            scenario.gateways["w1"].stop()

    scenario.produce(_traffic(scenario, events), rate, lambda sent: schedule(sent, fault))
    return _finish(scenario)


def keys_unreachable(bootstrap: str, workdir: Path, events: int, rate: float, port: int) -> Verdict:
    """(d) the key provider is unreachable (the key directory gone), then restored."""
    scenario = Scenario("keys-unreachable", bootstrap, workdir)
    gateway = scenario.start_gateway("w1")
    gateway.wait_ready()
    hidden = scenario.keys_dir.with_name("keys-away")
    schedule = _at(0.3)

    def fault(_i: int) -> None:
        scenario.in_background(hide_keys)

    def hide_keys() -> None:
        say("      the key directory disappears")
        shutil.move(scenario.keys_dir, hidden)
        deadline = time.monotonic() + 30
        while gateway.metric("residency_gateway_keys_unavailable") != 1.0:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never reported its keys unavailable")
            time.sleep(0.2)
        held = gateway.metric("residency_gateway_key_waits_total")
        say(f"      the gateway holds events (keys_unavailable 1, key waits {held:.0f}); keys come back")
        time.sleep(2)
        shutil.move(hidden, scenario.keys_dir)

    scenario.produce(_traffic(scenario, events), rate, lambda sent: schedule(sent, fault))
    return _finish(scenario)


def poison_pills(bootstrap: str, workdir: Path, events: int, rate: float, port: int) -> Verdict:
    """(e) one payload in 20 malformed, mixed into the stream."""
    scenario = Scenario("poison-pills", bootstrap, workdir)
    scenario.start_gateway("w1").wait_ready()
    scenario.produce(_traffic(scenario, events, poison_every=20), rate, lambda _sent: None)
    return _finish(scenario)


def _finish(scenario: Scenario) -> Verdict:
    scenario.join_faults()
    scenario.wait_processed()
    scenario.stop_all()
    verdict = scenario.verify()
    if scenario.restarts:
        verdict.notes.append(f"supervisor restarted a gateway {scenario.restarts}x")
    return verdict


SCENARIOS = {
    "kill9": kill9,
    "broker-restart": broker_restart,
    "rebalance": rebalance,
    "keys-unreachable": keys_unreachable,
    "poison-pills": poison_pills,
}
