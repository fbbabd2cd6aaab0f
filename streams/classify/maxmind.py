"""IP-to-country from a MaxMind-format database (GeoLite2, GeoIP2, DB-IP), for production precision."""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
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


# How often a running worker looks at the file for a newer version (one stat call, between batches).
RELOAD_CHECK_SECONDS = 60.0
# Addresses a usable country database answers: a new file is probed with them before it replaces
# the loaded one, so a file caught half-written fails here, not in the middle of a batch.
_PROBES = ("8.8.8.8", "1.1.1.1", "81.2.69.142", "2001:4860:4860::8888")

log = logging.getLogger(__name__)


class MaxMindGeolocator:
    """Country of an IP from a .mmdb file, read by MaxMind's own reader (its C extension when present).

    `refresh()` (the engine calls it between batches) picks up a new version of the file without a
    restart: when the file at the path is another one (geoipupdate writes a new file and renames it
    over the old), it is opened and probed, and only then replaces the loaded data. A new file that
    can't be read leaves the loaded data in place, with a warning, and is tried again when it changes.
    """

    def __init__(self, database: str | Path, check_every: float = RELOAD_CHECK_SECONDS) -> None:
        self._path = Path(database)
        self._check_every = check_every
        self._identity = _identity(self._path)
        self._install(_open(self._path))
        self._next_check = time.monotonic() + check_every
        self._refused: tuple[int, ...] | None = None  # the file last refused, so it's reported once

    def _install(self, reader: Any) -> None:
        meta = reader.metadata()
        # Assigned together between batches: a lookup sees the old reader and cache or the new ones.
        self._reader = reader
        self.built: date | None = datetime.fromtimestamp(meta.build_epoch, UTC).date()
        self.source = f"maxmind:{meta.database_type} ({self._path.name})"
        # Real traffic repeats IPs heavily; the cache makes the common case a dict hit.
        self.lookup = lru_cache(maxsize=65_536)(self._lookup)

    def refresh(self, now: float | None = None) -> bool:
        """Load the file again if it was replaced since it was loaded; True when new data took over."""
        now = time.monotonic() if now is None else now
        if now < self._next_check:
            return False
        self._next_check = now + self._check_every
        identity = _identity(self._path)
        if identity is None or identity == self._identity or identity == self._refused:
            return False
        try:
            reader = _open(self._path)
            _probe(reader)
        except GeolocationDatabaseError as error:
            self._refused = identity
            log.warning("geolocation: kept %s; the new file can't be used: %s", self.source, error)
            return False
        old = self._reader
        before = self.built
        self._install(reader)
        self._identity, self._refused = identity, None
        old.close()
        log.info("geolocation: loaded %s, built %s (was built %s)", self.source, self.built, before)
        return True

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


def _open(path: Path) -> Any:
    try:
        return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError:
        raise GeolocationDatabaseError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GeolocationDatabaseError(f"{path}: is a directory, not a database file") from None
    except maxminddb.InvalidDatabaseError:
        raise GeolocationDatabaseError(f"{path}: not a MaxMind DB file") from None
    except OSError as exc:
        raise GeolocationDatabaseError(f"{path}: can't read it ({exc.strerror})") from None


def _probe(reader: Any) -> None:
    """Read a few well-known addresses through the whole tree: a truncated file fails here."""
    try:
        for ip in _PROBES:
            try:
                reader.get(ip)
            except ValueError:  # an IPv6 address in an IPv4-only database
                continue
    except (maxminddb.InvalidDatabaseError, OSError) as error:
        reader.close()
        raise GeolocationDatabaseError(f"its data can't be read ({type(error).__name__})") from None


def _identity(path: Path) -> tuple[int, ...] | None:
    """What tells one file at `path` from the next: inode, size and modification time."""
    try:
        stat = path.stat()
    except OSError:
        return None  # gone for the moment (mid-rename): keep what is loaded
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
