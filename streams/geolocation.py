"""Offline IP-to-country lookup: the country of a public IPv4 or IPv6 address, or why there is none.

The data is the GeoLite2 country table that the geoip2fast package ships, so no
download happens at run time. We read its ranges into flat sorted tables once
and bisect them ourselves: a lookup costs about a microsecond, against ~11 µs
through the package's own API, and we decide what private or reserved means.
"""

from __future__ import annotations

import bisect
import gzip
import pickle
import socket
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

from streams.countries import KNOWN_COUNTRIES

_GEOIP2FAST_DATA = "geoip2fast-ipv6.dat.gz"  # IPv4 and IPv6 country ranges
_MAX_IPV4 = 2**32 - 1
# geoip2fast numbers its special ranges (private, loopback, multicast...) below this id.
_FIRST_COUNTRY_ID = 16
_IPV4_MAPPED_PREFIX = 0xFFFF << 32
# IPv6 ranges the table leaves out but that are never a public signal (RFC 6890):
# (prefix value, prefix length) for ::/127, fe80::/10, fc00::/7, ff00::/8, 2001:db8::/32.
_IPV6_NOT_PUBLIC = (
    (0, 127),
    (0xFE80 << 112, 10),
    (0xFC00 << 112, 7),
    (0xFF00 << 112, 8),
    (0x20010DB8 << 96, 32),
)


@dataclass(frozen=True, slots=True)
class IpCountry:
    """The answer for one IP: a country, or `country=None` with the reason there is none."""

    country: str | None
    reason: str  # "country", "invalid", "not-public", "unknown", "not-a-country"


INVALID = IpCountry(None, "invalid")
NOT_PUBLIC = IpCountry(None, "not-public")
UNKNOWN = IpCountry(None, "unknown")


class Geolocator(Protocol):
    """What the jurisdiction step needs: an IP's country or why there is none, and a name for the data."""

    source: str

    def lookup(self, ip: str) -> IpCountry: ...


def geolocator_for(database: str | None) -> Geolocator:
    """The policy's geolocator: a MaxMind-format database when one is configured, else the bundled data."""
    if database is None:
        return default_geolocator()
    from streams.maxmind import MaxMindGeolocator  # only deployments with a database need its reader

    return MaxMindGeolocator(database)


class _RangeTable:
    """Sorted, non-overlapping address ranges and the answer for each."""

    __slots__ = ("answers", "ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.answers: list[IpCountry] = []

    def find(self, address: int) -> IpCountry:
        i = bisect.bisect_right(self.starts, address) - 1
        if i >= 0 and address <= self.ends[i]:
            return self.answers[i]
        return UNKNOWN


class IpGeolocator:
    """Country of an IP address from an offline table; safe to share between threads."""

    def __init__(self, ipv4: _RangeTable, ipv6: _RangeTable, source: str) -> None:
        self._ipv4 = ipv4
        self._ipv6 = ipv6
        self.source = source
        # Real traffic repeats IPs heavily; the cache makes the common case a dict hit.
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def ranges_of(self, countries: set[str]) -> dict[str, list[tuple[int, int]]]:
        """IPv4 ranges (first, last address as ints) per country, for sample traffic."""
        found: dict[str, list[tuple[int, int]]] = {country: [] for country in countries}
        table = self._ipv4
        for start, end, answer in zip(table.starts, table.ends, table.answers, strict=True):
            if answer.country in found:
                found[answer.country].append((start, end))
        return found

    def _lookup(self, ip: str) -> IpCountry:
        if ":" in ip:
            try:
                address = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
            except OSError:
                return INVALID
            if address >> 32 == 0xFFFF:  # ::ffff:a.b.c.d is an IPv4 address in IPv6 clothing
                return self._ipv4.find(address - _IPV4_MAPPED_PREFIX)
            answer = self._ipv6.find(address)
            if answer is UNKNOWN and _is_special_ipv6(address):
                return NOT_PUBLIC
            return answer
        try:
            # inet_pton, unlike inet_aton, refuses shorthand such as "10.1" or "0x7f.1".
            address = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        except OSError:
            return INVALID
        return self._ipv4.find(address)


def _is_special_ipv6(address: int) -> bool:
    return any(address >> (128 - bits) == prefix >> (128 - bits) for prefix, bits in _IPV6_NOT_PUBLIC)


@lru_cache(maxsize=1)
def default_geolocator() -> IpGeolocator:
    """The geolocator over the data shipped with geoip2fast; loaded once per process (~0.5 s)."""
    data = resources.files("geoip2fast").joinpath(_GEOIP2FAST_DATA)
    with data.open("rb") as raw, gzip.open(raw) as unzipped:
        # A pickle from an installed package we depend on, not from input.
        _version, info, _total, database = pickle.load(unzipped)  # noqa: S301
    _index, names, first_ips, country_ids, netlengths = database
    answers: list[IpCountry] = []
    for entry_id, entry in enumerate(names):
        code = entry.split(":", 1)[0]
        if entry_id < _FIRST_COUNTRY_ID:
            answers.append(NOT_PUBLIC if code != "99" else UNKNOWN)
        elif code in KNOWN_COUNTRIES:
            answers.append(IpCountry(code, "country"))
        else:
            # Continent-level entries ("EU", "ASIA") name no country: no signal, not a guess.
            answers.append(IpCountry(None, "not-a-country"))
    ipv4, ipv6 = _RangeTable(), _RangeTable()
    for chunk_starts, chunk_ids, chunk_lengths in zip(first_ips, country_ids, netlengths, strict=True):
        for start, entry_id, netlength in zip(chunk_starts, chunk_ids, chunk_lengths, strict=True):
            table, bits = (ipv4, 32) if start <= _MAX_IPV4 else (ipv6, 128)
            table.starts.append(start)
            table.ends.append(start + (1 << (bits - netlength)) - 1)
            table.answers.append(answers[entry_id])
    return IpGeolocator(ipv4, ipv6, source=str(info.get("info", "geoip2fast")))
