"""The value scan's worst cases: µs per KB of adversarial input at 10 KB, 100 KB and 1 MB; µs per plain value.

    python -m loadtests.scan_worst_case [--sizes 10000,100000,1000000] [--repeat 3]

Each adversarial input is made to each size and scanned once per repeat (the best run
counts) by a `ValueScanner` whose `max_value_chars` is raised past the largest size,
with a character budget to match; the phone validation budget stays the default, as
the gateway runs it. Linear time shows as a flat µs/KB across a row. An input that
spends the validation budget is dropped once it has (`dropped` in the last column),
which is the budget doing its job: its time is the time to get there.

Then the common case: realistic kept values (event names, page paths, library names
and versions, timestamps, UUIDs, locales), scanned with no own values and with an
event's four, in µs per value.
"""

from __future__ import annotations

import argparse
import base64
import random
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from streams.transform.value_scan import OwnValue, ScanBudget, ValueScanner

KIND_WIDTH = 22


@dataclass(frozen=True)
class Row:
    name: str
    us_per_kb: tuple[float, ...]
    outcome: str


def _repeated(unit: str) -> Callable[[int], str]:
    return lambda size: (unit * (size // len(unit) + 1))[:size]


def _random_from(alphabet: str, seed: int) -> Callable[[int], str]:
    def make(size: int) -> str:
        rng = random.Random(seed)
        return "".join(rng.choice(alphabet) for _ in range(size))

    return make


def _mixed(size: int) -> str:
    # Chunks of every other input, in random order: each detector's worst shape next to the others'.
    rng = random.Random(7)
    chunks = [make(64) for name, make, _own in INPUTS if name != "mixed"]
    parts: list[str] = []
    total = 0
    while total < size:
        chunk = rng.choice(chunks)
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)[:size]


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NO_OWN: tuple[OwnValue, ...] = ()
_OWN_X: tuple[OwnValue, ...] = (("user_id", "xxx"), ("name", "Xxx Xxxx"))

# (name, make(size) -> text, own values)
INPUTS: list[tuple[str, Callable[[int], str], tuple[OwnValue, ...]]] = [
    ("digits, spaced", _repeated("12 34 56 78 90 "), _NO_OWN),
    ("digits, dashed", _repeated("1-2-3-4-5-6-7-8-9-0-"), _NO_OWN),
    ("phone numbers listed", _repeated("020 7946 0958, "), _NO_OWN),
    ("phones, one run", _repeated("+44 20 7946 0958 "), _NO_OWN),
    ("digit runs", _repeated("2025550143 "), _NO_OWN),
    ("card groups", _repeated("4111 - "), _NO_OWN),
    ("card groups glued", _repeated("x4111.1111/"), _NO_OWN),
    ("@ run", _repeated("@"), _NO_OWN),
    ("a@ repeated", _repeated("a@"), _NO_OWN),
    ("a@b. repeated", _repeated("a@b."), _NO_OWN),
    ("local part, no @", _repeated("jane.doe!x#y$z%w&v'u*t+s/r=q?p^o_n`m{l|k}j~i-h"), _NO_OWN),
    ("hex", _repeated("0123456789abcdef"), _NO_OWN),
    ("base64", _random_from(_B64, 1), _NO_OWN),
    ("base64 of text", lambda size: base64.b64encode(b"x" * (size * 3 // 4)).decode()[:size], _NO_OWN),
    ("eyJ run", _repeated("eyJ"), _NO_OWN),
    ("dotted digits", _repeated("1.2.3.4."), _NO_OWN),
    ("colons", _repeated(":"), _NO_OWN),
    ("IPv6 shapes", _repeated("1:2:3:4:5:6:7:8::"), _NO_OWN),
    ("% run", _repeated("%"), _NO_OWN),
    ("%41 run", _repeated("%41"), _NO_OWN),
    ("%2 run", _repeated("%2"), _NO_OWN),
    ("&# run", _repeated("&#"), _NO_OWN),
    ("&#64; run", _repeated("&#64;"), _NO_OWN),
    ("&#0 run", lambda size: "&#" + "0" * (size - 2), _NO_OWN),
    ("&a run", _repeated("&a"), _NO_OWN),
    ("&name run", _repeated("&" + "a" * 31), _NO_OWN),
    ("combining marks", lambda size: "a" + "\u0334\u0301" * (size // 2), _NO_OWN),
    ("fullwidth", _repeated("ｊａｎｅ．ｄｏｅ１２ "), _NO_OWN),
    ("no-break digits", _repeated("12\u00a034\u2013"), _NO_OWN),
    ("own value repeats", _repeated("xxxx"), _OWN_X),
    ("mixed", _mixed, _NO_OWN),
]

COMMON = [
    "Order Completed",
    "Product Viewed",
    "Checkout Step Viewed",
    "/products/123-blue-shoe",
    "/checkout/step-2",
    "/blog/2024/05/spring-sale",
    "analytics.js",
    "analytics-python",
    "4.1.0",
    "2.11.1",
    "2024-05-01T13:45:12.345Z",
    "2026-11-28 12:00:00.000",
    "6f1c2a7e-3b4d-4c8e-9a1f-2b3c4d5e6f70",
    "en-US",
    "de-DE",
    "web",
    "USD",
    "1299.99",
    "Blue Suede Shoes",
    "true",
]
OWN: tuple[OwnValue, ...] = (
    ("user_id", "u-88123"),
    ("anonymous_id", "0b6e2a41-7c55-4c1e-b1c8-29f0c0f7d8a3"),
    ("email", "jane.doe@example.com"),
    ("name", "Jane Doe"),
)


def _pseudonym(kind: str, value: str) -> str:
    return f"pz:eu:1:{kind}"


def worst_cases(sizes: Sequence[int], repeat: int) -> list[Row]:
    scanner = ValueScanner(max_value_chars=max(sizes) * 2)
    rows = []
    for name, make, own in INPUTS:
        timings = []
        outcome = ""
        for size in sizes:
            text = make(size)
            best = float("inf")
            for _ in range(repeat if size < 1_000_000 else 1):
                budget = ScanBudget(chars=len(text) * 100)
                started = time.perf_counter()
                out, counts = scanner.clean(text, _pseudonym, own, budget)
                best = min(best, time.perf_counter() - started)
            timings.append(best * 1e6 / (len(text) / 1000))
            outcome = "dropped" if out is None else ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        rows.append(Row(name, tuple(timings), outcome or "nothing found"))
    return rows


def common_case(own: tuple[OwnValue, ...], number: int = 20_000) -> float:
    """µs per value, the best of five runs, over the realistic values."""
    scanner = ValueScanner()
    budget = ScanBudget(chars=10**15)
    total = 0.0
    for value in COMMON:
        scan = partial(scanner.clean, value, _pseudonym, own, budget)
        best = min(timeit.repeat(scan, number=number, repeat=5))
        total += best / number
    return total * 1e6 / len(COMMON)


def report(sizes: Sequence[int], rows: list[Row]) -> str:
    header = f"{'input':{KIND_WIDTH}s}" + "".join(f"{_size_name(size):>12s}" for size in sizes) + "   outcome"
    lines = [header, f"{'':{KIND_WIDTH}s}" + "".join(f"{'µs/KB':>12s}" for _ in sizes)]
    for row in rows:
        cells = "".join(f"{value:12.1f}" for value in row.us_per_kb)
        lines.append(f"{row.name:{KIND_WIDTH}s}{cells}   {row.outcome}")
    return "\n".join(lines)


def _size_name(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size // 1000} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    print(report(sizes, worst_cases(sizes, args.repeat)))
    print()
    print(f"common case, {len(COMMON)} realistic values:")
    print(f"  no own values        {common_case(()):6.2f} µs/value")
    print(f"  four own values      {common_case(OWN):6.2f} µs/value")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
