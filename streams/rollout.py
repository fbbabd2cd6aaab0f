"""Rolling a new policy out to running workers: what a running worker may take without a restart,
and what it keeps to say which policy it runs and which it refused. No Kafka I/O here.

A published (or, on SIGHUP, re-read) policy replaces the running one at a batch boundary when it
validates and changes only how events are decided and written: jurisdiction, regions' countries
and transfers, destinations' allowlists, field rules, consent, erasure, formats. What a worker
can't change while it runs is refused with the reason: the Kafka settings and login, the topics it
reads and writes (which `topics apply` creates and the ACLs grant), the regions (each needs its
key and topic), and where keys come from.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from streams.config import GatewayConfig

POLICY_KEY = b"policy"  # the compacted policy topic's one key: the latest record is the policy


def runtime_differences(running: GatewayConfig, candidate: GatewayConfig) -> list[str]:
    """Why `candidate` can't replace `running` in a live worker; empty when it can."""
    problems = []
    for section in ("kafka", "topics", "keys", "access"):
        if getattr(running, section) != getattr(candidate, section):
            problems.append(f"{section}: changed; a running worker keeps its {section} settings (restart it)")
    if set(running.regions) != set(candidate.regions):
        problems.append(
            "regions: added or removed; each needs its topic (`topics apply`), its key and a restart"
        )
    else:
        for name, region in candidate.regions.items():
            before = running.regions[name]
            if (region.topic, region.bootstrap_servers) != (before.topic, before.bootstrap_servers):
                problems.append(f"regions.{name}: its topic or cluster changed; that needs a restart")
    destinations = {name: d.topic for name, d in running.destinations.items()}
    if destinations != {name: d.topic for name, d in candidate.destinations.items()}:
        problems.append("destinations: added, removed or moved to another topic; that needs a restart")
    return problems


@dataclass
class Refusal:
    policy_version: str | None  # None when the text couldn't be read as a policy at all
    origin: str  # "published" (the policy topic, with its offset) or "file" (SIGHUP)
    reason: str  # config paths and rules, never event data
    at: float = field(default_factory=time.time)


class PolicyLog:
    """Which policies a worker took and refused: for /health, /metrics and the logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.switches = 0
        self.refusals = 0
        self.last_refusal: Refusal | None = None
        self.source = "file"  # where the running policy came from

    def switched(self, origin: str) -> None:
        with self._lock:
            self.switches += 1
            self.source = origin

    def refused(self, refusal: Refusal) -> None:
        with self._lock:
            self.refusals += 1
            self.last_refusal = refusal

    def health(self, running: GatewayConfig, policy_hash: str) -> dict[str, Any]:
        with self._lock:
            refusal = self.last_refusal
            return {
                "policy_version": running.policy_version,
                "policy_hash": policy_hash,
                "source": self.source,
                "switches": self.switches,
                "refused": None
                if refusal is None
                else {
                    "policy_version": refusal.policy_version,
                    "origin": refusal.origin,
                    "reason": refusal.reason,
                    "at": refusal.at,
                },
            }
