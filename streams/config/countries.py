"""ISO 3166-1 country codes and the named country groups a policy may use."""

from __future__ import annotations

import pycountry

# Kosovo has no ISO 3166-1 code yet, but the user-assigned XK is what every
# geolocation database and the EU itself use, so a policy must be able to name it.
KNOWN_COUNTRIES: frozenset[str] = frozenset({country.alpha_2 for country in pycountry.countries} | {"XK"})

# The 27 member states, and the parts of them that ISO 3166-1 gives codes of their own:
# GDPR applies there as in the rest of the state (Art. 355(1) TFEU for the outermost regions,
# Protocol 2 to the Accession Act for Åland), but a geolocation database or an app reports
# Réunion as RE, not FR. (Canarias, Azores, Madeira have no codes of their own: ES, PT.)
EU_TERRITORIES: frozenset[str] = frozenset({"AX", "GF", "GP", "MQ", "RE", "YT", "MF"})
EU27: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
    | EU_TERRITORIES
)  # fmt: skip

# Groups expand inside `regions.<name>.countries`; they save policies from
# spelling out the 27 member states and drifting when membership changes.
COUNTRY_GROUPS: dict[str, frozenset[str]] = {
    "EU27": EU27,
    "EEA": EU27 | {"IS", "LI", "NO"},
}


def _name_key(name: str) -> str:
    return " ".join(name.casefold().replace(",", " ").split())


# ISO 3166-1 names (short, official and common), folded: "United States", "Germany", "Viet Nam".
_COUNTRY_BY_NAME: dict[str, str] = {}
for _country in pycountry.countries:
    for _attribute in ("name", "official_name", "common_name"):
        _name = getattr(_country, _attribute, None)
        if _name:
            _COUNTRY_BY_NAME.setdefault(_name_key(_name), _country.alpha_2)
_COUNTRY_BY_NAME.setdefault("kosovo", "XK")


def country_named(name: str) -> str | None:
    """The ISO 3166-1 code of a country written out by its ISO name, any case; None for anything else.

    Exact names only, never a fuzzy guess: "United States" is US, "USA" or "Amerika" is no country.
    """
    return _COUNTRY_BY_NAME.get(_name_key(name)) if name.isascii() else None
