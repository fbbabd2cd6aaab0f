"""Generalize a field for the copy that leaves its region: an IP to its network, a time to its hour, a user
agent to browser and OS, a geo object to its country.

Each function takes the value as found in the event (any JSON type) and returns the coarser value, or
`DROP` when it can't tell what the value is. Failing closed matters here: a value we could not parse is
never passed through unchanged, because then the one thing we didn't understand would leave in the clear.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Collection
from functools import lru_cache
from typing import Any, Final

from ua_parser import OS, BestAvailableResolver, Domain, UserAgent, load_lazy_builtins

__all__ = ["DROP", "country_only", "hour_of", "ip_prefix", "user_agent_family"]

DROP: Final[object] = object()
"""Returned instead of a value that can't be generalized safely: the caller removes the field."""

# --- IP addresses ---------------------------------------------------------------------------------------

_V4_MAPPED = b"\0" * 10 + b"\xff\xff"  # ::ffff:a.b.c.d
_V4_COMPATIBLE = b"\0" * 12  # ::a.b.c.d (deprecated, still sent by some stacks)
_SIX_TO_FOUR = b"\x20\x02"  # 2002:wwxx:yyzz::/48 carries a whole public IPv4 address in its /48


@lru_cache(maxsize=16384)
def _ip_prefix(text: str) -> str | object:
    # Pick the family by its separator: a failed inet_pton raises, and an exception costs more than the parse.
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        packed = socket.inet_pton(family, text)
    except OSError:  # also refuses zone ids, ports, brackets, spaces and leading zeros: all drop
        return DROP
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, packed[:3] + b"\0")
    head = packed[:12]
    # ::, ::1 and the rest of ::0.x.y.z are IPv6 specials, not IPv4 hosts: their first IPv4 byte is zero.
    if head == _V4_MAPPED or (head == _V4_COMPATIBLE and packed[12]):
        return socket.inet_ntop(socket.AF_INET, packed[12:15] + b"\0")
    if packed[:2] == _SIX_TO_FOUR:
        # Its /48 would keep the site's whole IPv4 address; keep that address's /24 instead (a /40).
        return socket.inet_ntop(socket.AF_INET6, packed[:5] + b"\0" * 11)
    return socket.inet_ntop(socket.AF_INET6, packed[:6] + b"\0" * 10)


def ip_prefix(value: Any) -> Any:
    """An IPv4 address's /24 or an IPv6 address's /48, written as an address; IPv4 inside IPv6 as IPv4."""
    if not isinstance(value, str) or not value:
        return DROP
    return _ip_prefix(value)


# --- Timestamps -----------------------------------------------------------------------------------------

# The regexes only validate: ISO-8601's fields are fixed-width, so the hour ends at character 13 and the
# seconds' separator sits at 19, and the result is sliced from the input. Groups: 1 time (absent for a date
# alone), 2 seconds, 3 fraction digits, 4 zone. [0-9], not \d: \d takes any script's digits.
_ISO = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"([Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:(?:[0-5][0-9]|60)(?:[.,]([0-9]{1,9}))?)?"
    r"([Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?)?"
)
_EPOCH_TEXT = re.compile(r"([0-9]{10}|[0-9]{13}|[0-9]{16})(?:\.([0-9]{1,9}))?")
# The unit is read off the number of digits: seconds (10), milliseconds (13), microseconds (16), each
# covering 2001-09-09 to 2286-11-20. Other lengths are ambiguous (9 digits: seconds in the 1990s, or
# milliseconds in 1970) or not a time at all, so they drop.
_HOUR_BY_DIGITS: Final = {10: 3600, 13: 3_600_000, 16: 3_600_000_000}


def _hour_of_number(number: int) -> int | None:
    if 10**9 <= number < 10**10:
        return number - number % 3600
    if 10**12 <= number < 10**13:
        return number - number % 3_600_000
    if 10**15 <= number < 10**16:
        return number - number % 3_600_000_000
    return None


def _hour_of_text(text: str) -> str | object:
    if text[4:5] == "-":
        match = _ISO.fullmatch(text)
        if match is None:
            return DROP
        time, seconds, fraction, zone = match.groups()
        if time is None:
            return text  # a date alone is already coarser than an hour
        hour = text[:13] + (":00:00" if seconds else ":00")
        if fraction:  # keep "." or "," and the number of digits
            hour += text[19] + "0" * len(fraction)
        return hour + zone if zone else hour
    match = _EPOCH_TEXT.fullmatch(text)
    if match is None:
        return DROP
    whole, fraction = match.groups()
    floored = int(whole) - int(whole) % _HOUR_BY_DIGITS[len(whole)]
    return f"{floored}.{'0' * len(fraction)}" if fraction else str(floored)


def hour_of(value: Any) -> Any:
    """A timestamp truncated to its hour, in the representation it came in (ISO-8601 text, epoch s/ms/µs)."""
    if isinstance(value, str):
        return _hour_of_text(value)
    if type(value) is int:  # not isinstance: True and False are ints too, and never a time
        floored = _hour_of_number(value)
        return DROP if floored is None else floored
    if isinstance(value, float) and math.isfinite(value):
        floored = _hour_of_number(int(value))
        return DROP if floored is None else float(floored)
    return DROP


# --- User agents ----------------------------------------------------------------------------------------

# The regex (ua-parser-rs) resolver when installed, else re2, else pure Python. No resolver-level cache:
# _family below caches the formatted answer, which is all we keep.
_RESOLVER: Final = BestAvailableResolver(load_lazy_builtins())
_DOMAINS: Final = Domain.USER_AGENT | Domain.OS  # not DEVICE: its rules are the slowest and we drop it
# Real user agents, in-app browsers' included, stay well under this. Longer text is cut (at a space, so no
# version number is split) before it's parsed: it bounds both the cost of one parse and the memory the
# cache can hold (16384 entries of at most ~1 KiB), whatever a client sends.
_MAX_UA: Final = 1024


@lru_cache(maxsize=16384)
def _family(ua: str) -> str | object:
    try:
        result = _RESOLVER(ua, _DOMAINS)
    except UnicodeEncodeError:  # lone surrogates can't cross into the native matcher
        return DROP
    return f"{_named(result.user_agent)} / {_named(result.os)}"


def _named(part: UserAgent | OS | None) -> str:
    if part is None:
        return "Other"
    return f"{part.family} {part.major}" if part.major else part.family


def user_agent_family(value: Any) -> Any:
    """A user agent's browser and OS, each as family and major version: 'Chrome 120 / Windows 10'."""
    if not isinstance(value, str) or not value or value.isspace():
        return DROP
    if len(value) > _MAX_UA:
        cut = value[:_MAX_UA]
        value = cut.rpartition(" ")[0] or cut
    return _family(value)


# --- Geo objects ----------------------------------------------------------------------------------------


def country_only(value: Any, country_keys: Collection[str]) -> Any:
    """A copy of a geo object with only its country-level keys; DROP when none is left or it's no object."""
    if not isinstance(value, dict):
        return DROP
    kept = {key: item for key, item in value.items() if key in country_keys}
    return kept or DROP
