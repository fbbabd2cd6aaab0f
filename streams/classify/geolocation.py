"""Offline IP-to-country lookup: the country of a public IPv4 or IPv6 address, or why there is none.

The data is the GeoLite2 country table that the geoip2fast package ships, so no
download happens at run time. We read its ranges into flat sorted tables once
and bisect them ourselves: a lookup costs about a microsecond, against ~11 µs
through the package's own API, and we decide what private or reserved means:
that is written here (SPECIAL_IPV4, GLOBAL_UNICAST_IPV6), not left to the data.
"""

from __future__ import annotations

import bisect
import gzip
import ipaddress
import pickle
import re
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import Protocol

from streams.config.countries import KNOWN_COUNTRIES

_GEOIP2FAST_DATA = "geoip2fast-ipv6.dat.gz"  # IPv4 and IPv6 country ranges
_MAX_IPV4 = 2**32 - 1
# geoip2fast numbers its special ranges (private, loopback, multicast...) below this id.
_FIRST_COUNTRY_ID = 16
_IPV4_MAPPED_PREFIX = 0xFFFF << 32
# IPv6 prefixes whose addresses carry an IPv4 address, which is what places them: NAT64's
# well-known prefix 64:ff9b::/96 (RFC 6052, the IPv4 in the last 32 bits) and 6to4's 2002::/16
# (RFC 3056, the IPv4 in the 32 bits after the prefix).
NAT64_PREFIX = 0x64FF9B << 96
_6TO4 = 0x2002
# IPv4 special-purpose ranges (RFC 6890 and its updates), as (network, prefix length): none of
# them is a place, whatever a data file says about it.
SPECIAL_IPV4: tuple[tuple[int, int], ...] = tuple(
    (int(network.network_address), network.prefixlen)
    for network in map(
        ipaddress.IPv4Network,
        (
            "0.0.0.0/8",  # this network
            "10.0.0.0/8",  # private
            "100.64.0.0/10",  # carrier-grade NAT
            "127.0.0.0/8",  # loopback
            "169.254.0.0/16",  # link-local
            "172.16.0.0/12",  # private
            "192.0.0.0/24",  # IETF protocol assignments
            "192.0.2.0/24",  # documentation
            "192.88.99.0/24",  # 6to4 relay anycast
            "192.168.0.0/16",  # private
            "198.18.0.0/15",  # benchmarking
            "198.51.100.0/24",  # documentation
            "203.0.113.0/24",  # documentation
            "224.0.0.0/4",  # multicast
            "240.0.0.0/4",  # reserved, and 255.255.255.255 (broadcast) inside it
        ),
    )
)
_SPECIAL_IPV4_STARTS = [network for network, _ in sorted(SPECIAL_IPV4)]
_SPECIAL_IPV4_ENDS = [network + (1 << (32 - bits)) - 1 for network, bits in sorted(SPECIAL_IPV4)]
# Only 2000::/3 is global unicast (RFC 4291); everything else (loopback, link-local, unique
# local, multicast, and the reserved rest such as 1000::/4) is no place. Within it, the
# documentation prefix 2001:db8::/32 isn't either.
GLOBAL_UNICAST_IPV6 = (0x2000 << 112, 3)
_IPV6_DOCUMENTATION = (0x20010DB8 << 96, 32)


@dataclass(frozen=True, slots=True)
class IpCountry:
    """The answer for one IP: a country, or `country=None` with the reason there is none."""

    country: str | None
    reason: str  # "country", "invalid", "not-public", "unknown", "not-a-country"


INVALID = IpCountry(None, "invalid")
NOT_PUBLIC = IpCountry(None, "not-public")
UNKNOWN = IpCountry(None, "unknown")


class Geolocator(Protocol):
    """What the jurisdiction step needs: an IP's country or why there is none, a name for the data,
    and the day the data was built (None when it doesn't say)."""

    source: str
    built: date | None

    def lookup(self, ip: str) -> IpCountry: ...

    def refresh(self) -> bool:
        """Take up newer data if the source has it (a replaced file); True when it did. The engine
        calls it between batches, so a batch is decided by one version of the data."""
        ...


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

    def __init__(self, ipv4: _RangeTable, ipv6: _RangeTable, source: str, built: date | None = None) -> None:
        self.built = built
        self._ipv4 = ipv4
        self._ipv6 = ipv6
        self.source = source
        # Real traffic repeats IPs heavily; the cache makes the common case a dict hit.
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def refresh(self) -> bool:
        return False  # the bundled data is part of the package: a new version is a new release

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
            except (OSError, ValueError):  # ValueError: non-ASCII text, or a NUL inside
                return INVALID
            carried = embedded_ipv4(address)
            if carried is not None:
                return self._ipv4_country(carried)
            if not is_public_ipv6(address):
                return NOT_PUBLIC
            return self._ipv6.find(address)
        try:
            # inet_pton, unlike inet_aton, refuses shorthand such as "10.1" or "0x7f.1".
            address = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        except (OSError, ValueError):
            return INVALID
        return self._ipv4_country(address)

    def _ipv4_country(self, address: int) -> IpCountry:
        if not is_public_ipv4(address):
            return NOT_PUBLIC
        return self._ipv4.find(address)


def embedded_ipv4(address: int) -> int | None:
    """The IPv4 address an IPv6 address (as an int) carries: ::ffff:a.b.c.d, NAT64 or 6to4; else None."""
    if address >> 32 == 0xFFFF:  # ::ffff:a.b.c.d is an IPv4 address in IPv6 clothing
        return address - _IPV4_MAPPED_PREFIX
    if address >> 32 == NAT64_PREFIX >> 32:
        return address & _MAX_IPV4
    if address >> 112 == _6TO4:
        return (address >> 80) & _MAX_IPV4
    return None


def is_public_ipv4(address: int) -> bool:
    """Whether an IPv4 address (as an int) lies outside every special-purpose range."""
    # Bisected, not scanned: traffic's IPs are mostly distinct, so this runs on most lookups.
    i = bisect.bisect_right(_SPECIAL_IPV4_STARTS, address) - 1
    return i < 0 or address > _SPECIAL_IPV4_ENDS[i]


def is_public_ipv6(address: int) -> bool:
    """Whether an IPv6 address (as an int) is global unicast: in 2000::/3, and not documentation."""
    return _within(address, 128, *GLOBAL_UNICAST_IPV6) and not _within(address, 128, *_IPV6_DOCUMENTATION)


def _within(address: int, width: int, network: int, bits: int) -> bool:
    return address >> (width - bits) == network >> (width - bits)


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
    source = str(info.get("info", "geoip2fast"))  # "MAXMIND:GeoLite2-Country-IPv4IPv6-en-20240618"
    stamp = _BUILD_DATE.search(source)
    built = datetime.strptime(stamp.group(1), "%Y%m%d").date() if stamp else None
    return IpGeolocator(ipv4, ipv6, source=source, built=built)


_BUILD_DATE = re.compile(r"(20[0-9]{6})(?![0-9])")


def data_age(geolocator: Geolocator, max_age_days: int, today: date | None = None) -> tuple[str, str | None]:
    """How the data's date reads (`built 2024-06-18, 898 days ago`), and a warning when it is older
    than `max_age_days`: IP ranges move between countries, and a stale table decides wrongly."""
    if geolocator.built is None:
        unknown = f"the geolocation data ({geolocator.source}) doesn't say when it was made"
        return "build date unknown", unknown
    days = ((today or datetime.now(UTC).date()) - geolocator.built).days
    described = f"built {geolocator.built.isoformat()}, {days} days ago"
    if days <= max_age_days:
        return described, None
    return described, (
        f"the geolocation data is {days} days old (jurisdiction.geolocation.max_age_days: {max_age_days}); "
        "refresh it: docs/jurisdiction.md says how"
    )
