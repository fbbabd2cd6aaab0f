"""`residency-gateway top`: a live view of a running gateway, made from its /metrics and /health.

Each tick scrapes both, and the rates are the difference from the previous scrape.
The view shows only what /metrics exposes: topic names, regions, counts and lag,
never an event.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import orjson
from prometheus_client.parser import text_string_to_metric_families

from streams.outcomes import Outcome
from streams.service.metrics import PREFIX

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen
_OUTCOME_LABELS = {
    Outcome.EXPORTED.value: "copies",
    Outcome.QUARANTINED.value: "quarantine",
    Outcome.DEAD_LETTERED.value: "dead-letter",
}


class ScrapeFailed(Exception):
    """The gateway's web server didn't answer, or answered something that isn't its metrics."""


@dataclass(frozen=True)
class TopicCount:
    topic: str
    label: str  # the region the topic holds, or what it holds: copies, quarantine, dead-letter
    count: float


@dataclass
class Snapshot:
    at: float  # time.monotonic() of the scrape
    status: str
    records_in: float = 0.0
    audited_events: float = 0.0
    key_waits: float = 0.0
    keys_unavailable: bool = False
    outputs: dict[str, TopicCount] = field(default_factory=dict)
    lag: dict[tuple[str, int], float] | None = None  # None: the gateway exposes no lag
    lag_age: float | None = None
    policy: str | None = None  # "<version> (<hash>)" of the policy the worker runs
    policy_refusals: float = 0.0

    @property
    def total_lag(self) -> float | None:
        return None if self.lag is None else sum(self.lag.values())

    def outcome_total(self, label: str) -> float:
        return sum(c.count for c in self.outputs.values() if c.label == label)


def endpoints(url: str | None, port: int | None) -> tuple[str, str]:
    """The /metrics and /health URLs for `--url` (a base URL, or the /metrics URL itself) or `--port`."""
    if url is None:
        url = f"http://127.0.0.1:{port or 6066}"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    base = parts.path.removesuffix("/metrics").rstrip("/")
    return (
        urlunsplit((parts.scheme, parts.netloc, f"{base}/metrics", "", "")),
        urlunsplit((parts.scheme, parts.netloc, f"{base}/health", "", "")),
    )


def scrape(metrics_url: str, health_url: str, timeout: float = 5.0) -> Snapshot:
    text = _get(metrics_url, timeout).decode()
    try:
        status = str(orjson.loads(_get(health_url, timeout)).get("status", "?"))
    except (ScrapeFailed, orjson.JSONDecodeError, AttributeError):
        status = "unknown"
    snapshot = parse(text, status)
    if snapshot is None:
        raise ScrapeFailed(f"{metrics_url} holds no {PREFIX} metrics")
    return snapshot


def parse(text: str, status: str = "unknown") -> Snapshot | None:
    """A snapshot of the gateway's metrics in a Prometheus exposition, or None if it holds none."""
    snapshot = Snapshot(at=time.monotonic(), status=status)
    names = {
        f"{PREFIX}_records_in_total": "records_in",
        f"{PREFIX}_audited_events_total": "audited_events",
        f"{PREFIX}_key_waits_total": "key_waits",
    }
    found = False
    lag: dict[tuple[str, int], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name in names:
                setattr(snapshot, names[sample.name], sample.value)
                found = True
            elif sample.name == f"{PREFIX}_events_out_total":
                topic, outcome = labels["topic"], labels.get("outcome", "")
                label = labels.get("region") or _OUTCOME_LABELS.get(outcome, outcome)
                previous = snapshot.outputs.get(topic)
                count = sample.value + (previous.count if previous else 0.0)
                snapshot.outputs[topic] = TopicCount(topic, label, count)
            elif sample.name == f"{PREFIX}_keys_unavailable":
                snapshot.keys_unavailable = sample.value > 0
            elif sample.name == f"{PREFIX}_consumer_lag":
                lag[(labels["topic"], int(labels["partition"]))] = sample.value
            elif sample.name == f"{PREFIX}_consumer_lag_read_timestamp_seconds":
                snapshot.lag_age = max(0.0, time.time() - sample.value)
            elif sample.name == f"{PREFIX}_policy_info":
                snapshot.policy = f"{labels['policy_version']} ({labels['policy_hash']})"
            elif sample.name == f"{PREFIX}_policy_refusals_total":
                snapshot.policy_refusals = sample.value
    if not found:
        return None
    snapshot.lag = lag if lag or snapshot.lag_age is not None else None
    return snapshot


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the operator's URL
            return response.read()  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        if url.endswith("/health"):  # 503 while starting or holding: its body still says why
            return error.read()
        raise ScrapeFailed(f"{url}: HTTP {error.code}") from error
    except OSError as error:
        raise ScrapeFailed(f"{url}: {error}") from error


_RANK = {"copies": 1, "quarantine": 2, "dead-letter": 3}  # after the regions, in this order


def _rates(current: Snapshot, previous: Snapshot | None) -> Callable[[Callable[[Snapshot], float]], str]:
    """The per-second rate, since `previous`, of what a function reads from a snapshot."""
    elapsed = current.at - previous.at if previous is not None else 0.0

    def rate(read: Callable[[Snapshot], float]) -> str:
        if previous is None or elapsed <= 0:
            return "-"
        return f"{max(0.0, read(current) - read(previous)) / elapsed:.1f}/s"

    return rate


def _records_in(snapshot: Snapshot) -> float:
    return snapshot.records_in


def _topic(topic: str) -> Callable[[Snapshot], float]:
    def read(snapshot: Snapshot) -> float:
        count = snapshot.outputs.get(topic)
        return 0.0 if count is None else count.count

    return read


def _outcome(label: str) -> Callable[[Snapshot], float]:
    return lambda snapshot: snapshot.outcome_total(label)


def _ranked(snapshot: Snapshot) -> list[TopicCount]:
    return sorted(snapshot.outputs.values(), key=lambda c: (_RANK.get(c.label, 0), c.topic))


def render(current: Snapshot, previous: Snapshot | None, source: str) -> str:
    """One frame: totals and per-second rates since `previous` (none on the first frame)."""
    rate = _rates(current, previous)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [f"residency-gateway top  {source}  status: {current.status}  {stamp}"]
    if current.policy is not None:
        # A rollout shows here: each worker's policy changes as it switches (or stays, when refused).
        refused = f"  ({current.policy_refusals:.0f} refused)" if current.policy_refusals else ""
        lines.append(f"policy {current.policy}{refused}")
    lines.append("")
    lines.append(_row("records in", "", current.records_in, rate(_records_in)))
    for label, name in (("quarantine", "quarantined"), ("dead-letter", "dead-lettered")):
        lines.append(_row(name, "", current.outcome_total(label), rate(_outcome(label))))
    total = current.total_lag
    if current.lag is None or total is None:
        lines.append(_row("lag", "", None, "not exposed"))
    else:
        age = f"read {current.lag_age:.1f}s ago" if current.lag_age is not None else ""
        lines.append(_row("lag", "", total, age))
        for (topic, partition), value in sorted(current.lag.items()):
            lines.append(_row("", f"{topic}[{partition}]", value, ""))
    keys = "keys unavailable: holding events" if current.keys_unavailable else "keys available"
    lines.append(_row("key waits", "", current.key_waits, keys))
    lines += ["", f"{'holds':<13} {'topic':<36} {'records':>10} {'rate':>11}"]
    for count in _ranked(current):
        lines.append(_row(count.label, count.topic, count.count, rate(_topic(count.topic))))
    lines.append(_row("audit", "", current.audited_events, "events audited"))
    return "\n".join(lines)


def summary_line(current: Snapshot, previous: Snapshot | None) -> str:
    """One line per tick, for a log or a pipe: label=count (rate) for records in, each topic, lag."""
    rate = _rates(current, previous)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    parts = [stamp, f"status={current.status}", f"in={current.records_in:.0f} ({rate(_records_in)})"]
    if current.policy is not None:
        parts.insert(2, f"policy={current.policy.split(' ')[0]}")
    parts += [f"{c.label}:{c.topic}={c.count:.0f} ({rate(_topic(c.topic))})" for c in _ranked(current)]
    parts += [f"{label}={current.outcome_total(label):.0f}" for label in ("quarantine", "dead-letter")]
    total = current.total_lag
    parts += [f"key_waits={current.key_waits:.0f}", f"lag={'-' if total is None else f'{total:.0f}'}"]
    return " ".join(parts)


def _row(label: str, topic: str, value: float | None, note: str) -> str:
    shown = "-" if value is None else f"{value:.0f}"
    return f"{label:<13} {topic:<36} {shown:>10} {note:>11}".rstrip()


def watch(
    metrics_url: str,
    health_url: str,
    out: IO[str],
    *,
    interval: float = 1.0,
    once: bool = False,
    clear: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """With `once`, one frame (rates over one interval); else a frame every `interval` seconds,
    redrawn in place when `clear` (a terminal), or one summary line per tick."""
    source = metrics_url.removesuffix("/metrics")
    current, previous = scrape(metrics_url, health_url), None
    if once:
        sleep(interval)
        out.write(render(scrape(metrics_url, health_url), current, source) + "\n")
        out.flush()
        return
    while True:
        frame = CLEAR + render(current, previous, source) if clear else summary_line(current, previous)
        out.write(frame + "\n")
        out.flush()
        sleep(interval)
        previous, current = current, scrape(metrics_url, health_url)
