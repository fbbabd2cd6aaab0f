"""IP-to-country from a MaxMind-format database (GeoLite2, GeoIP2, DB-IP), for production precision."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

from streams.classify.geolocation import (
    INVALID,
    NOT_PUBLIC,
    UNKNOWN,
    IpCountry,
    embedded_ipv4,
    is_public_ipv4,
    is_public_ipv6,
)
from streams.config.countries import KNOWN_COUNTRIES

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
        self.built: date | None = datetime.fromtimestamp(meta.build_epoch, UTC).date()
        self.source = f"maxmind:{meta.database_type} ({path.name})"
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
        except (OSError, ValueError):  # ValueError: non-ASCII text, or a NUL inside
            return INVALID
        if isinstance(address, ipaddress.IPv6Address):
            # The rule is ours, not the file's: only 2000::/3 is global unicast, whatever the
            # database holds for the rest (its IPv4 tree sits at ::/96, so "::8.8.8.8" would
            # be answered as 8.8.8.8). An address that carries an IPv4 address (::ffff:a.b.c.d,
            # NAT64's 64:ff9b::/96, 6to4's 2002::/16) is judged, and looked up, as that IPv4.
            carried = embedded_ipv4(int(address))
            if carried is not None:
                address = ipaddress.IPv4Address(carried)
            elif not is_public_ipv6(int(address)):
                return NOT_PUBLIC
        if isinstance(address, ipaddress.IPv4Address) and not is_public_ipv4(int(address)):
            return NOT_PUBLIC
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
