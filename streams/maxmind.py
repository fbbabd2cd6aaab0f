"""IP-to-country from a MaxMind-format database (GeoLite2, GeoIP2, DB-IP), for production precision."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from streams.countries import KNOWN_COUNTRIES
from streams.geolocation import INVALID, NOT_PUBLIC, UNKNOWN, IpCountry

NOT_A_COUNTRY = IpCountry(None, "not-a-country")
# One answer object per country, so equal answers are also identical (cheap to hash and compare).
_COUNTRY_ANSWERS = {code: IpCountry(code, "country") for code in KNOWN_COUNTRIES}


class GeolocationDatabaseError(Exception):
    """The configured database can't be used; the message names the file and the problem."""


class MaxMindGeolocator:
    """Country of an IP from a .mmdb file, read by MaxMind's own reader (its C extension when present)."""

    def __init__(self, database: str | Path) -> None:
        path = Path(database)
        try:
            self._reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
        except FileNotFoundError:
            raise GeolocationDatabaseError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise GeolocationDatabaseError(f"{path}: is a directory, not a database file") from None
        except maxminddb.InvalidDatabaseError:
            raise GeolocationDatabaseError(f"{path}: not a MaxMind DB file") from None
        except OSError as exc:
            raise GeolocationDatabaseError(f"{path}: can't read it ({exc.strerror})") from None
        meta = self._reader.metadata()
        built = datetime.fromtimestamp(meta.build_epoch, UTC).date().isoformat()
        self.source = f"maxmind:{meta.database_type} built {built} ({path.name})"
        # Real traffic repeats IPs heavily; the cache makes the common case a dict hit.
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def close(self) -> None:
        self._reader.close()

    def _lookup(self, ip: str) -> IpCountry:
        try:
            # inet_pton refuses shorthand such as "10.1"; building the address from its bytes
            # is several times cheaper than parsing the text a second time.
            if ":" in ip:
                address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(
                    socket.inet_pton(socket.AF_INET6, ip)
                )
            else:
                address = ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, ip))
        except (OSError, ValueError):
            return INVALID
        if isinstance(address, ipaddress.IPv6Address):
            # Judge, and look up, the address the database will really answer for: its IPv4 tree
            # sits at ::/96 and MaxMind's files alias ::ffff:0:0/96 and 2002::/16 onto it, so
            # `is_global` on the IPv6 form would let "::10.0.0.1" through as public.
            carried = _embedded_ipv4(address)
            if carried is not None:
                address = carried
        if not address.is_global or address.is_multicast:
            return NOT_PUBLIC
        try:
            record: Any = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return UNKNOWN
        if not isinstance(record, dict):
            return UNKNOWN
        # Only `country`, never `registered_country`: that is where the ISP registered the
        # block, not where the user is, and guessing is what fail-closed forbids.
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else None
        answer = _COUNTRY_ANSWERS.get(code) if isinstance(code, str) else None
        if answer is not None:
            return answer
        if code is not None or "continent" in record:
            return NOT_A_COUNTRY
        return UNKNOWN


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that an IPv4-compatible, IPv4-mapped or 6to4 IPv6 address carries, if any."""
    value = int(address)
    if value >> 32 in (0, 0xFFFF):  # ::a.b.c.d and ::ffff:a.b.c.d
        return ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    return address.sixtofour  # 2002:aabb:ccdd::/48 carries a.b.c.d
