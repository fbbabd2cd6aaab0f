"""The country a locale or an IANA time zone names: the weak signals, off unless the policy lists them.

Weak because they describe a device's settings, not where its user is: a German
phone in Beijing still says de-DE and Europe/Berlin.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from streams.config.countries import KNOWN_COUNTRIES

_LOCALE_PARTS = re.compile(r"[-_]")
_ZONE_DATA = "zoneinfo"


def country_of_locale(locale: str) -> str | None:
    """de-DE, de_DE.UTF-8, zh-Hant-TW → the region subtag's country; "de" or es-419 name none."""
    base = locale.split(".", 1)[0].split("@", 1)[0]
    for part in _LOCALE_PARTS.split(base)[1:]:
        if len(part) == 2 and part.isalpha():
            country = part.upper()
            return country if country in KNOWN_COUNTRIES else None
    return None


def country_of_timezone(zone: str) -> str | None:
    """Europe/Berlin → DE, and old names such as Asia/Calcutta too; UTC or Etc/GMT+3 name none."""
    return _zone_countries().get(zone)


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA zone → country, from the tzdata package's zone.tab and its backward-compatible links."""
    data = resources.files("tzdata").joinpath(_ZONE_DATA)
    countries: dict[str, str] = {}
    for line in data.joinpath("zone.tab").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, zone = line.split("\t")[:3]
            if code in KNOWN_COUNTRIES:
                countries[zone] = code
    # "L <target> <alias>": an alias names the same place as its target.
    for line in data.joinpath("tzdata.zi").read_text(encoding="utf-8").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            if target in countries:
                countries.setdefault(alias, countries[target])
    return countries
