"""The sweep's plots and tables, from its results alone (no Kafka): what docs/tuning.md embeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, whatever the machine has

import matplotlib.pyplot as plt

Results = dict[str, Any]


def write_plots(results: Results, out: Path) -> list[Path]:
    """throughput.png, cpu.png and latency.png in `out`; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        _throughput(results, out / "throughput.png"),
        _cpu(results, out / "cpu.png"),
        _latency(results, out / "latency.png"),
    ]


def _title(results: Results) -> str:
    return f"one worker, {results['machine']['cpus']} cores shared with the broker ({results['commit']})"


def _throughput(results: Results, path: Path) -> Path:
    points = results["throughput"]
    names = [p["name"] for p in points]
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(points) + 1.5))
    bars = axis.barh(names, [p["payloads_per_s"] for p in points], color="#4c72b0")
    for bar, point in zip(bars, points, strict=True):
        axis.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f"  {point['payloads_per_s']:,.0f}/s ({point['events_per_s']:,.0f} events/s, "
            f"{point['payload_bytes_mean']} B, {point['exported_share']:.0%} exported)",
            va="center",
            fontsize=8,
        )
    axis.invert_yaxis()
    axis.set_xlabel("payloads per second, saturated")
    axis.set_xlim(0, max(p["payloads_per_s"] for p in points) * 1.9)
    axis.set_title(f"What one worker sustains\n{_title(results)}", fontsize=10)
    return _save(figure, path)


def _cpu(results: Results, path: Path) -> Path:
    points = results["throughput"]
    names = [p["name"] for p in points]
    python = [p["python_us_per_payload"] for p in points]
    librdkafka = [p["librdkafka_us_per_payload"] for p in points]
    other = [
        max(0.0, p["cpu_us_per_payload"] - a - b) for p, a, b in zip(points, python, librdkafka, strict=True)
    ]
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(points) + 1.5))
    axis.barh(names, python, label="the gateway's Python thread", color="#4c72b0")
    axis.barh(names, librdkafka, left=python, label="librdkafka's threads", color="#dd8452")
    left = [a + b for a, b in zip(python, librdkafka, strict=True)]
    axis.barh(names, other, left=left, label="other threads", color="#aaaaaa")
    axis.invert_yaxis()
    axis.set_xlabel("CPU µs per payload")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(f"Where a payload's CPU goes\n{_title(results)}", fontsize=10)
    return _save(figure, path)


def _latency(results: Results, path: Path) -> Path:
    points = results["latency"]
    by_load = sorted((p for p in points if p["name"].startswith("exactly once,")), key=lambda p: p["load"])
    at_half = [p for p in points if p["load"] == 0.5]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if by_load:
        loads = [p["load"] * 100 for p in by_load]
        left.plot(loads, [p["p50_ms"] for p in by_load], "o-", label="p50")
        left.plot(loads, [p["p99_ms"] for p in by_load], "s-", label="p99")
        left.plot(loads, [p["max_ms"] for p in by_load], "^:", label="max")
        left.set_xlabel("offered load, % of what one worker sustains")
        left.set_ylabel("ms from produce to readable (read_committed)")
        left.set_title("Exactly once, default batching", fontsize=10)
        left.set_ylim(bottom=0)
        left.legend(fontsize=8)
    names = [p["name"].removesuffix(", half") for p in at_half]
    positions = range(len(at_half))
    right.bar([x - 0.2 for x in positions], [p["p50_ms"] for p in at_half], width=0.4, label="p50")
    right.bar([x + 0.2 for x in positions], [p["p99_ms"] for p in at_half], width=0.4, label="p99")
    right.set_xticks(list(positions), names, rotation=25, ha="right", fontsize=8)
    right.set_ylabel("ms")
    right.set_title("At half load: delivery, batch size, time budget", fontsize=10)
    right.legend(fontsize=8)
    figure.suptitle(f"Latency ({_title(results)})", fontsize=10)
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def results_markdown(results: Results) -> str:
    """The sweep's figures as Markdown tables, written next to the plots."""
    lines = [
        f"# Tuning sweep results ({results['commit']})",
        "",
        f"`{results['command']}`: {results['payloads_per_point']:,} payloads per throughput run, the "
        f"median of {results.get('rounds', 1)} runs per point, "
        f"{results['partitions']} ingest partitions, {results['machine']['cpus']} cores shared with a "
        f"local broker; {results['seconds']} s in all. docs/tuning.md reads these.",
        "",
        _row("throughput point", "payloads/s", "events/s", "CPU µs/payload", "Python / librdkafka µs",
             "B/payload", "exported", "records/payload"),
        _row(*["---"] * 8),
    ]  # fmt: skip
    for p in results["throughput"]:
        lines.append(
            _row(
                p["name"],
                f"{p['payloads_per_s']:,.0f}",
                f"{p['events_per_s']:,.0f}",
                f"{p['cpu_us_per_payload']:.0f}",
                f"{p['python_us_per_payload']:.0f} / {p['librdkafka_us_per_payload']:.0f}",
                str(p["payload_bytes_mean"]),
                f"{p['exported_share']:.0%}",
                f"{p['records_per_payload']:.2f}",
            )
        )
    lines += ["", _row("latency point", "offered/s", "p50 ms", "p99 ms", "max ms"), _row(*["---"] * 5)]
    for p in results["latency"]:
        lines.append(
            _row(
                p["name"],
                f"{p['offered_per_s']:,.0f}",
                f"{p['p50_ms']:.0f}",
                f"{p['p99_ms']:.0f}",
                f"{p['max_ms']:.0f}",
            )
        )
    lines += ["", _row("steady payloads/s", "workers", "ingest partitions"), _row(*["---"] * 3)]
    for row in results["sizing"]:
        lines.append(_row(f"{row['payloads_per_s']:,}", str(row["workers"]), str(row["partitions"])))
    return "\n".join(lines) + "\n"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


# --- the guide's tables ---------------------------------------------------------------------------------

_TRAFFIC = {
    "mixed, defaults": "the bench's mix: every format, batches too",
    "single events": "single events (Segment `track`)",
    "batches": "batch payloads only (Segment `/v1/batch`)",
    "nothing exported": "the bench's mix, no region transfers anything",
}


def guide_tables(results: Results) -> dict[str, str]:
    """The tables docs/tuning.md shows, by the name of the marker they sit between."""
    by_name = {p["name"]: p for p in results["throughput"]}
    latency = {p["name"]: p for p in results["latency"]}

    def rate(name: str) -> str:
        return f"{by_name[name]['payloads_per_s']:,.0f}" if name in by_name else "n/a"

    columns = ("traffic", "bytes per payload", "events per payload", "exported", "payloads/s", "events/s")
    traffic = [_row(*columns, "CPU µs per payload"), _row(*["---"] * 7)]
    for name, label in _TRAFFIC.items():
        if (p := by_name.get(name)) is not None:
            traffic.append(
                _row(
                    label,
                    f"{p['payload_bytes_mean']:,}",
                    f"{p['events_per_payload']:.2f}",
                    f"{p['exported_share']:.0%}",
                    f"{p['payloads_per_s']:,.0f}",
                    f"{p['events_per_s']:,.0f}",
                    f"{p['cpu_us_per_payload']:.0f}",
                )
            )
    sizing = [_row("steady payloads/s", "workers", "ingest partitions"), _row(*["---"] * 3)]
    sizing += [
        _row(f"{r['payloads_per_s']:,}", str(r["workers"]), str(r["partitions"])) for r in results["sizing"]
    ]
    by_load = [_row("offered load", "payloads/s", "p50 ms", "p99 ms", "max ms"), _row(*["---"] * 5)]
    for p in sorted(
        (p for p in latency.values() if p["name"].startswith("exactly once,")), key=lambda p: p["load"]
    ):
        by_load.append(
            _row(
                f"{p['load']:.0%}",
                f"{p['offered_per_s']:,.0f}",
                f"{p['p50_ms']:.0f}",
                f"{p['p99_ms']:.0f}",
                f"{p['max_ms']:.0f}",
            )
        )
    batching = [_row("setting", "payloads/s, saturated", "p50 / p99 ms at half load"), _row(*["---"] * 3)]
    for label, saturated, at_half in (
        ("defaults (`batch_size` 2,000, `max_batch_ms` 1,000)", "mixed, defaults", "exactly once, half"),
        ("`batch_size` 500", "batch_size 500", "batch_size 500, half"),
        ("`batch_size` 100", "batch_size 100", "batch_size 100, half"),
        ("`max_batch_ms` 250", None, "max_batch_ms 250, half"),
        ("`max_batch_ms` 100", None, "max_batch_ms 100, half"),
    ):
        if at_half in latency:
            p = latency[at_half]
            batching.append(
                _row(label, rate(saturated) if saturated else "n/a", f"{p['p50_ms']:.0f} / {p['p99_ms']:.0f}")
            )
    delivery = [
        _row("`kafka.delivery`", "payloads/s, saturated", "CPU µs per payload", "p50 / p99 ms at half load"),
        _row(*["---"] * 4),
    ]
    for label, saturated, at_half in (
        ("`exactly_once`", "mixed, defaults", "exactly once, half"),
        ("`at_least_once`", "at least once", "at least once, half"),
    ):
        if saturated in by_name and at_half in latency:
            p, q = by_name[saturated], latency[at_half]
            delivery.append(
                _row(
                    label,
                    rate(saturated),
                    f"{p['cpu_us_per_payload']:.0f}",
                    f"{q['p50_ms']:.0f} / {q['p99_ms']:.0f}",
                )
            )
    compression = [
        _row("`kafka.compression`", "payloads/s, saturated", "CPU µs per payload", "of which librdkafka's"),
        _row(*["---"] * 4),
    ]
    for label, name in (
        ("`lz4` (default)", "mixed, defaults"),
        ("`none`", "compression none"),
        ("`zstd`", "compression zstd"),
    ):
        if (p := by_name.get(name)) is not None:
            compression.append(
                _row(
                    label,
                    rate(name),
                    f"{p['cpu_us_per_payload']:.0f}",
                    f"{p['librdkafka_us_per_payload']:.0f}",
                )
            )
    tables = {
        "traffic": traffic,
        "sizing": sizing,
        "latency-by-load": by_load,
        "batching": batching,
        "delivery": delivery,
        "compression": compression,
    }
    return {name: "\n".join(lines) for name, lines in tables.items()}


def fill_guide(text: str, results: Results) -> str:
    """`text` with each `<!-- sweep:NAME -->` … `<!-- /sweep:NAME -->` block holding the table of NAME."""
    for name, table in guide_tables(results).items():
        start, end = f"<!-- sweep:{name} -->", f"<!-- /sweep:{name} -->"
        if start not in text or end not in text:
            continue
        before, rest = text.split(start, 1)
        _old, after = rest.split(end, 1)
        text = f"{before}{start}\n{table}\n{end}{after}"
    return text
