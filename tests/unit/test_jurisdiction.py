"""How signals decide: precedence, unusable evidence, unreadable declarations, conflicts, weak signals."""

import pytest

from streams.formats.base import Signals
from streams.geolocation import default_geolocator
from streams.jurisdiction import Jurisdictions
from streams.weak_signals import country_of_locale, country_of_timezone

REGIONS = {"DE": "eu", "FR": "eu", "US": "us", "IN": "in", "CN": "cn"}  # no rest of world: BR is unassigned


def signals(
    declared: str | None = None,
    upstream: str | None = None,
    ip: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> Signals:
    def evidence(value: str | None, field: str) -> tuple[str, str] | None:
        return None if value is None else (value, field)

    return (
        evidence(declared, "d"),
        evidence(upstream, "u"),
        evidence(ip, "i"),
        evidence(locale, "l"),
        evidence(timezone, "t"),
    )


def jurisdictions(*order: str, quarantine_conflicts: bool = False) -> Jurisdictions:
    order = order or ("declared", "upstream_country", "ip")
    return Jurisdictions(REGIONS, default_geolocator(), order, quarantine_conflicts)


def test_the_first_usable_signal_decides_and_the_rest_is_recorded() -> None:
    decision = jurisdictions().classify(signals(declared="in", upstream="FR", ip="8.8.8.8"))
    assert (decision.region, decision.signal) == ("in", "declared")
    assert decision.ignored == ("upstream_country: FR -> eu (u)", "ip: US -> us (i)")


def test_precedence_is_the_policy_s_order() -> None:
    decision = jurisdictions("ip", "declared").classify(signals(declared="in", ip="8.8.8.8"))
    assert (decision.region, decision.signal) == ("us", "ip")


def test_unusable_evidence_falls_through_to_the_next_signal() -> None:
    decision = jurisdictions().classify(signals(upstream="XX", ip="8.8.8.8"))
    assert (decision.region, decision.signal) == ("us", "ip")
    assert decision.ignored == ("upstream_country: not an ISO 3166-1 country (u)",)


def test_an_unreadable_declaration_holds_the_event_rather_than_guessing() -> None:
    decision = jurisdictions().classify(signals(declared="mars", ip="8.8.8.8"))
    assert decision.region is None and decision.signal == "declared"
    assert decision.reason.startswith("unreadable: declared: neither a region nor")
    assert "mars" not in decision.reason


def test_no_usable_signal_is_quarantine_with_what_was_seen() -> None:
    decision = jurisdictions().classify(signals(ip="10.0.0.1"))
    assert (decision.region, decision.signal) == (None, "none")
    assert decision.reason == "no-signal: ip: a private or reserved address (i)"
    assert "10.0.0.1" not in decision.reason


def test_a_country_in_no_region_is_quarantined() -> None:
    decision = jurisdictions().classify(signals(declared="BR"))
    assert decision.region is None and decision.reason == "unassigned: declared: BR, in no region (d)"


def test_a_conflict_is_quarantined_when_the_policy_says_so() -> None:
    decision = jurisdictions(quarantine_conflicts=True).classify(signals(declared="eu", ip="8.8.8.8"))
    assert (decision.region, decision.signal) == (None, "conflict")
    assert decision.reason == "conflict: declared: eu (d) vs ip: US -> us (i)"
    agreeing = jurisdictions(quarantine_conflicts=True).classify(signals(declared="DE", upstream="FR"))
    assert agreeing.region == "eu"  # two countries of one region are no conflict


def test_weak_signals_decide_only_when_listed() -> None:
    weak = signals(locale="de-DE", timezone="Asia/Calcutta")
    assert jurisdictions().classify(weak).region is None
    assert jurisdictions("ip", "locale", "timezone").classify(weak).region == "eu"
    assert jurisdictions("ip", "timezone", "locale").classify(weak).region == "in"


@pytest.mark.parametrize(
    ("locale", "country"),
    [
        ("de-DE", "DE"),
        ("pt_BR.UTF-8", "BR"),
        ("zh-Hant-TW", "TW"),
        ("de", None),
        ("es-419", None),
        ("en-ZZ", None),
    ],
)
def test_locale_names_a_country_only_through_its_region_subtag(locale: str, country: str | None) -> None:
    assert country_of_locale(locale) == country


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Europe/Berlin", "DE"),
        ("Asia/Kolkata", "IN"),
        ("Asia/Calcutta", "IN"),
        ("UTC", None),
        ("Etc/GMT+3", None),
    ],
)
def test_timezone_names_the_country_of_its_zone(zone: str, country: str | None) -> None:
    assert country_of_timezone(zone) == country


def test_decisions_are_interned_so_the_hot_path_reuses_them() -> None:
    rules = jurisdictions()
    assert rules.classify(signals(ip="8.8.8.8")) is rules.classify(signals(ip="8.8.4.4"))
