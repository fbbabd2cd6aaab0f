"""A running worker takes a new policy: from the policy topic (`policy publish`) or, on SIGHUP, from
its --config file. Validated here, refused with the reason or handed to the engine, which switches
at its next batch boundary (streams/kafka/engine.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from streams.classify.maxmind import GeolocationDatabaseError
from streams.config import ConfigError, GatewayConfig, parse_config
from streams.kafka.engine import GatewayEngine
from streams.kafka.policy_topic import PolicyWatcher, policy_topic
from streams.kafka.subjects import SubjectKeyStore
from streams.keys.ring import KeyRing
from streams.pipeline import Pipeline
from streams.rollout import PolicyLog, Refusal, runtime_differences

log = logging.getLogger(__name__)


class PolicyApplier:
    def __init__(
        self,
        engine: GatewayEngine,
        keys: Callable[[], KeyRing],
        subjects: SubjectKeyStore | None,
        policies: PolicyLog,
    ) -> None:
        self._engine = engine
        self._keys = keys
        self._subjects = subjects
        self.policies = policies

    def apply(self, text: str, origin: str) -> bool:
        """Validate `text` as the next policy; True when the engine will switch to it.

        `origin` names where it came from in logs and /health: "published at offset N" or "file".
        """
        running = self._engine.config
        try:
            candidate = parse_config(text, source=f"policy {origin}")
        except ConfigError as error:
            return self._refuse(None, origin, "; ".join(error.problems))
        if candidate.policy_hash() == running.policy_hash():
            log.info(
                "policy %s from %s is the one running: nothing to switch", candidate.policy_version, origin
            )
            return False
        differences = runtime_differences(running, candidate)
        if differences:
            return self._refuse(candidate.policy_version, origin, "; ".join(differences))
        try:
            pipeline = Pipeline(candidate, self._keys(), subjects=self._subjects)
        except GeolocationDatabaseError as error:
            return self._refuse(
                candidate.policy_version, origin, f"jurisdiction.geolocation.database: {error}"
            )
        source = "published" if origin.startswith("published") else "file"
        self._engine.propose(pipeline, lambda: self.policies.switched(source))
        log.info(
            "policy %s (%s) from %s accepted: it runs from the next batch on",
            candidate.policy_version,
            pipeline.policy_hash,
            origin,
        )
        return True

    def _refuse(self, version: str | None, origin: str, reason: str) -> bool:
        self.policies.refused(Refusal(version, origin, reason))
        log.error(
            "policy %s from %s refused; the running policy %s stays: %s",
            version or "(unreadable)",
            origin,
            self._engine.config.policy_version,
            reason,
        )
        return False


def watch_policy_topic(
    config: GatewayConfig, settings: Mapping[str, Any], applier: PolicyApplier
) -> PolicyWatcher | None:
    """Take the latest published policy before the first batch, then follow the topic; None when the
    topic doesn't exist (the worker then runs its --config policy, and says so)."""
    topic = policy_topic(config)
    watcher = PolicyWatcher(settings, topic)
    if topic not in watcher.topics(timeout=30):
        log.warning(
            "policy topic %s is missing: this worker won't take published policies "
            "(`residency-gateway topics apply` creates it)",
            topic,
        )
        watcher.close()
        return None
    latest = watcher.latest(timeout=60)
    if latest is not None:
        applier.apply(latest.text, f"published at offset {latest.offset}")
    watcher.follow(lambda published: applier.apply(published.text, f"published at offset {published.offset}"))
    return watcher
