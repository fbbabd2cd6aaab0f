"""IP-to-country from a MaxMind-format database (GeoLite2, GeoIP2, DB-IP), for production precision."""

from __future__ import annotations

import ipaddress
import socket
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
        self.source = f"maxmind:{meta.database_type} built {meta.build_epoch} ({path.name})"
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
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # judged, and looked up, as the IPv4 address it carries
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
