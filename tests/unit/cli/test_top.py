"""`top` reads the gateway's own exposition: totals, per-topic counts and rates, lag."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from streams.cli.top import Snapshot, endpoints, parse, summary_line, watch
from streams.cli.top import render as render_frame
from streams.kafka.engine import EngineStats
from streams.outcomes import Outcome
from streams.service.metrics import engine_registry, render


def _exposition(records_in: int, eu: int, quarantined: int = 0) -> str:
    stats = EngineStats(records_in=records_in, audit_records=1, audited_events=records_in, key_waits=1)
    stats.outcomes.by_topic[(Outcome.ROUTED, "events.eu")] += eu
    stats.outcomes.by_topic[(Outcome.EXPORTED, "events.global")] += eu
    if quarantined:
        stats.outcomes.by_topic[(Outcome.QUARANTINED, "events.quarantine")] += quarantined
    return render(engine_registry(stats, {"events.eu": "eu"})).decode()


def test_a_scrape_reads_totals_and_what_each_topic_holds() -> None:
    snapshot = parse(_exposition(10, eu=8, quarantined=2), "ok")
    assert snapshot is not None
    assert (snapshot.records_in, snapshot.audited_events, snapshot.key_waits) == (10, 10, 1)
    assert {t: (c.label, c.count) for t, c in snapshot.outputs.items()} == {
        "events.eu": ("eu", 8),
        "events.global": ("copies", 8),
        "events.quarantine": ("quarantine", 2),
    }
    assert snapshot.outcome_total("quarantine") == 2 and snapshot.outcome_total("dead-letter") == 0
    assert snapshot.lag is None  # no lag reader behind this registry


def test_something_else_than_the_gateways_metrics_is_no_snapshot() -> None:
    assert parse("# HELP up x\n# TYPE up gauge\nup 1\n") is None


def test_rates_are_the_difference_over_the_interval() -> None:
    before, after = parse(_exposition(10, eu=8)), parse(_exposition(30, eu=20, quarantined=4))
    assert before is not None and after is not None
    after = replace(after, at=before.at + 2.0)
    frame = render_frame(after, before, "http://gw:6066")
    lines = {line.split()[0]: line for line in frame.splitlines()[2:] if line.strip()}
    assert lines["records"].split()[-2:] == ["30", "10.0/s"]
    assert lines["eu"].split()[-2:] == ["20", "6.0/s"]
    assert lines["quarantined"].split()[-2:] == ["4", "2.0/s"]
    assert lines["dead-lettered"].split()[-2:] == ["0", "0.0/s"]
    assert lines["lag"].split()[1:] == ["-", "not", "exposed"]
    line = summary_line(after, before)
    assert "in=30 (10.0/s)" in line and "eu:events.eu=20 (6.0/s)" in line and "quarantine=4" in line


def test_a_lag_reading_shows_per_partition_and_in_total() -> None:
    snapshot = Snapshot(at=0.0, status="ok", lag={("in", 0): 3, ("in", 1): 4}, lag_age=0.5)
    frame = render_frame(snapshot, None, "x")
    assert any(line.split()[:2] == ["lag", "7"] for line in frame.splitlines())
    assert any(line.split() == ["in[1]", "4"] for line in frame.splitlines())


def test_urls_from_a_base_a_metrics_url_or_a_port() -> None:
    assert endpoints("http://gw:7000", None) == ("http://gw:7000/metrics", "http://gw:7000/health")
    assert endpoints("http://gw:7000/metrics", None)[1] == "http://gw:7000/health"
    assert endpoints("gw:7000/", None)[0] == "http://gw:7000/metrics"
    assert endpoints(None, 6090) == ("http://127.0.0.1:6090/metrics", "http://127.0.0.1:6090/health")


def test_watching_without_a_terminal_prints_a_line_per_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots = iter([parse(_exposition(n, eu=n)) for n in (1, 2, 3)])
    monkeypatch.setattr("streams.cli.top.scrape", lambda *_: next(snapshots))
    ticks: list[float] = []

    def sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        watch("m", "h", out, interval=1.0, sleep=sleep)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all("status=" in line and "\x1b" not in line for line in lines)
