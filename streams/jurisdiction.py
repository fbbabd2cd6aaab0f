"""Decide an event's jurisdiction from its signals, and say which signal decided or why none did."""

from __future__ import annotations

from dataclasses import dataclass

from streams.geolocation import IpGeolocator

_NO_SIGNAL_REASONS = {
    "invalid": "no-signal: the IP address is not valid",
    "not-public": "no-signal: the IP address is private or reserved",
    "unknown": "no-signal: the IP address is not in the geolocation data",
    "not-a-country": "no-signal: the IP address geolocates to a continent, not a country",
}


@dataclass(frozen=True, slots=True)
class Decision:
    region: str | None  # None: undecidable, so the event is quarantined
    signal: str  # what decided: "ip-geolocation", or "none"
    reason: str  # one line a person reads in `explain` and in the rg-reason header
    country: str | None = None


class Jurisdictions:
    """The policy's country-to-region map plus the lookups that feed it."""

    def __init__(self, country_regions: dict[str, str], geolocator: IpGeolocator) -> None:
        self._country_regions = country_regions
        self._geolocator = geolocator

    def classify(self, ip: str | None) -> Decision:
        if ip is None:
            return Decision(None, "none", "no-signal: the event carries no IP address")
        answer = self._geolocator.lookup(ip)
        if answer.country is None:
            return Decision(None, "none", _NO_SIGNAL_REASONS[answer.reason])
        region = self._country_regions.get(answer.country)
        if region is None:
            return Decision(
                None,
                "ip-geolocation",
                f"unassigned: country {answer.country} is in no region",
                answer.country,
            )
        return Decision(region, "ip-geolocation", f"ip-geolocation: {answer.country}", answer.country)
