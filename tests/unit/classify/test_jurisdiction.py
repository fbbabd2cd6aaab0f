"""How signals decide: precedence, unusable and unreadable evidence, conflict policies, weak signals."""

from collections.abc import Sequence

import pytest

from streams.classify.geolocation import default_geolocator
from streams.classify.jurisdiction import ConflictPolicy, Jurisdictions
from streams.classify.weak_signals import country_of_locale, country_of_timezone
from streams.formats.base import Evidence, Signals, Unreadable

REGIONS = {"DE": "eu", "FR": "eu", "US": "us", "IN": "in", "CN": "cn"}  # no rest of world: BR is unassigned
# How far each region lets its events go: cn keeps everything home; eu and us export differently.
TRANSFERS = {
    "eu": {"global": "pseudonymized"},
    "us": {"global": "pseudonymized", "ads": "pseudonymized"},
    "in": {"global": "tokens"},
    "cn": {},
}
DE_IP, CN_IP, US_IP = "85.214.132.117", "114.114.114.114", "8.8.8.8"
Value = str | Unreadable
Given = Value | Sequence[Value] | None


def signals(
    declared: Given = None,
    upstream: Given = None,
    ip: Given = None,
    locale: Given = None,
    timezone: Given = None,
) -> Signals:
    """Evidence as a format reads it; a list gives a signal several fields, labelled d, d2, d3..."""

    def evidence(given: Given, field: str) -> tuple[Evidence, ...]:
        if given is None:
            return ()
        values = [given] if isinstance(given, str | Unreadable) else list(given)
        return tuple((value, field + (str(n) if n > 1 else "")) for n, value in enumerate(values, 1))

    return (
        evidence(declared, "d"),
        evidence(upstream, "u"),
        evidence(ip, "i"),
        evidence(locale, "l"),
        evidence(timezone, "t"),
    )


def jurisdictions(*order: str, on_conflict: ConflictPolicy = "precedence") -> Jurisdictions:
    order = order or ("declared", "upstream_country", "ip")
    return Jurisdictions(REGIONS, default_geolocator(), order, on_conflict, TRANSFERS)


# --- Precedence ---------------------------------------------------------------------------------


def test_the_first_usable_signal_decides_and_the_rest_is_recorded() -> None:
    decision = jurisdictions().classify(signals(declared="in", upstream="FR", ip=US_IP))
    assert (decision.region, decision.signal) == ("in", "declared")
    assert decision.ignored == ("upstream_country: FR -> eu (u)", "ip: US -> us (i)")


def test_precedence_is_the_policy_s_order() -> None:
    decision = jurisdictions("ip", "declared").classify(signals(declared="in", ip=US_IP))
    assert (decision.region, decision.signal) == ("us", "ip")


def test_unusable_evidence_falls_through_to_the_next_signal() -> None:
    decision = jurisdictions().classify(signals(upstream="XX", ip=US_IP))
    assert (decision.region, decision.signal) == ("us", "ip")
    assert decision.ignored == ("upstream_country: XX, a marker for no country (u)",)


def test_no_usable_signal_is_quarantine_with_what_was_seen() -> None:
    decision = jurisdictions().classify(signals(ip="10.0.0.1"))
    assert (decision.region, decision.signal) == (None, "none")
    assert decision.reason == "no-signal: ip: a private or reserved address (i)"
    assert "10.0.0.1" not in decision.reason


def test_a_country_in_no_region_is_quarantined() -> None:
    decision = jurisdictions().classify(signals(declared="BR"))
    assert decision.region is None and decision.reason == "unassigned: declared: BR, in no region (d)"
    assert decision.held_as == "unassigned"  # the metric label, typed where the reason is made


def test_two_disagreeing_declarations_are_a_conflict_even_under_precedence() -> None:
    decision = jurisdictions().classify(signals(declared=["eu", "cn"], ip=DE_IP))
    assert (decision.region, decision.signal) == (None, "conflict")
    assert decision.reason == "conflict: declared: eu (d) vs declared: cn (d2)"
    assert decision.ignored == ("ip: DE -> eu (i)",)


def test_two_disagreeing_cdn_countries_are_a_conflict_even_under_precedence() -> None:
    decision = jurisdictions().classify(signals(upstream=["DE", "CN"]))
    assert decision.reason == "conflict: upstream_country: DE -> eu (u) vs upstream_country: CN -> cn (u2)"


def test_under_precedence_a_lower_signal_that_disagrees_with_itself_is_outranked() -> None:
    decision = jurisdictions().classify(signals(declared="in", upstream=["DE", "CN"]))
    assert (decision.region, decision.signal) == ("in", "declared")


def test_two_declarations_of_one_region_are_no_conflict() -> None:
    decision = jurisdictions().classify(signals(declared=["DE", "eu", "fr"]))
    assert (decision.region, decision.country, decision.reason) == ("eu", "DE", "declared: DE -> eu (d)")
    assert decision.ignored == ("declared: eu (d2)", "declared: FR -> eu (d3)")


def test_under_precedence_the_first_usable_ip_field_decides_and_the_others_are_ignored() -> None:
    decision = jurisdictions().classify(signals(ip=[US_IP, CN_IP]))
    assert (decision.region, decision.reason) == ("us", "ip: US -> us (i)")
    assert decision.ignored == ("ip: CN -> cn (i2)",)
    private_first = jurisdictions().classify(signals(ip=["10.1.2.3", CN_IP]))
    assert (private_first.region, private_first.reason) == ("cn", "ip: CN -> cn (i2)")
    assert private_first.ignored == ("ip: a private or reserved address (i)",)


def test_two_ip_fields_of_different_regions_are_a_conflict_like_any_other() -> None:
    held = jurisdictions(on_conflict="quarantine").classify(signals(ip=[US_IP, CN_IP]))
    assert (held.region, held.reason) == (None, "conflict: ip: US -> us (i) vs ip: CN -> cn (i2)")
    strictest = jurisdictions(on_conflict="strictest").classify(signals(ip=[US_IP, CN_IP]))
    assert (strictest.region, strictest.signal) == ("cn", "ip")


@pytest.mark.parametrize("first", ["10.1.2.3", "", "fe80::1"])
def test_an_ip_field_that_gives_no_signal_does_not_stop_the_next_one(first: str) -> None:
    decision = jurisdictions(on_conflict="quarantine").classify(signals(declared="DE", ip=[first, CN_IP]))
    assert (decision.region, decision.signal) == (None, "conflict")
    assert decision.reason == "conflict: declared: DE -> eu (d) vs ip: CN -> cn (i2)"


def test_an_unreadable_second_ip_field_holds_the_event() -> None:
    decision = jurisdictions().classify(signals(ip=[US_IP, Unreadable("a JSON array, not a string")]))
    assert decision.region is None
    assert decision.reason == "unreadable: ip: a JSON array, not a string (i2)"


# --- Unreadable evidence holds the event --------------------------------------------------------


def test_an_unreadable_declaration_holds_the_event_rather_than_guessing() -> None:
    decision = jurisdictions().classify(signals(declared="mars", ip=US_IP))
    assert decision.region is None and decision.signal == "declared"
    assert decision.reason.startswith("unreadable: declared: neither a region nor")
    assert "mars" not in decision.reason


@pytest.mark.parametrize("signal", ["declared", "upstream", "ip", "locale", "timezone"])
def test_a_signal_of_the_wrong_json_type_holds_the_event_whatever_the_signal(signal: str) -> None:
    rules = jurisdictions("declared", "upstream_country", "ip", "locale", "timezone")
    wrong = Unreadable("a JSON array, not a string")
    decision = rules.classify(signals(**{signal: wrong}, ip=US_IP) if signal != "ip" else signals(ip=wrong))
    assert decision.region is None
    assert decision.reason.startswith("unreadable: ") and "a JSON array, not a string" in decision.reason


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "an empty string"),
        ("  ", "a string of only whitespace"),
        ("ın", "a string with characters outside ASCII"),  # dotless i: upper-cases to IN
        ("ＤＥ", "a string with characters outside ASCII"),  # fullwidth letters
    ],
)
@pytest.mark.parametrize("signal", ["declared", "upstream", "locale", "timezone"])
def test_an_empty_blank_or_non_ascii_string_holds_the_event(signal: str, value: str, problem: str) -> None:
    rules = jurisdictions("declared", "upstream_country", "ip", "locale", "timezone")
    decision = rules.classify(signals(**{signal: value}, ip=US_IP))
    assert decision.region is None and decision.reason.startswith("unreadable: ")
    assert problem in decision.reason


def test_dotless_i_declaration_is_unreadable() -> None:
    decision = jurisdictions().classify(signals(declared="ın"))
    assert decision.reason == "unreadable: declared: a string with characters outside ASCII (d)"
    assert "ın" not in decision.reason


def test_every_unreadable_signal_is_named_in_the_reason() -> None:
    decision = jurisdictions().classify(
        signals(declared=Unreadable("a JSON number, not a string"), upstream="Q9")
    )
    assert decision.reason == (
        "unreadable: declared: a JSON number, not a string (d); "
        "upstream_country: neither an ISO 3166-1 country, a country's name, nor a marker for none (u)"
    )


@pytest.mark.parametrize("marker", ["XX", "T1", "A1", "A2", "O1", "ZZ", "xx"])
def test_cdn_markers_for_an_unknown_country_are_no_signal(marker: str) -> None:
    decision = jurisdictions().classify(signals(upstream=marker, ip=US_IP))
    assert (decision.region, decision.signal) == ("us", "ip")


@pytest.mark.parametrize("code", ["EU", "GER", "Q9", "de-DE"])
def test_an_upstream_country_that_is_no_code_holds_the_event(code: str) -> None:
    decision = jurisdictions().classify(signals(upstream=code, ip=US_IP))
    assert decision.region is None and decision.reason.startswith("unreadable: upstream_country:")


@pytest.mark.parametrize("ip", ["1.2.3.4:80", "1.2.3.4, 10.0.0.1", "abc", " ", "８.８.８.８"])
def test_an_ip_field_holding_text_that_is_no_address_holds_the_event(ip: str) -> None:
    decision = jurisdictions().classify(signals(ip=ip))
    assert decision.region is None
    assert decision.reason == "unreadable: ip: not an IP address (i)"


def test_an_empty_ip_field_is_no_signal() -> None:
    decision = jurisdictions().classify(signals(ip=""))
    assert decision.reason == "no-signal: ip: an empty string (i)"
    assert jurisdictions().classify(signals(upstream="DE", ip="")).region == "eu"


@pytest.mark.parametrize(("declared", "region"), [("EU", "eu"), ("Eu", "eu"), ("de", "eu"), (" cn ", "cn")])
def test_declarations_are_read_case_insensitively(declared: str, region: str) -> None:
    assert jurisdictions().classify(signals(declared=declared)).region == region


# --- Conflicts: quarantine and strictest --------------------------------------------------------


def test_a_conflict_is_quarantined_when_the_policy_says_so() -> None:
    rules = jurisdictions(on_conflict="quarantine")
    decision = rules.classify(signals(declared="eu", ip=US_IP))
    assert (decision.region, decision.signal) == (None, "conflict")
    assert decision.reason == "conflict: declared: eu (d) vs ip: US -> us (i)"
    agreeing = rules.classify(signals(declared="DE", upstream="FR"))
    assert agreeing.region == "eu"  # two countries of one region are no conflict


def test_every_conflicting_finding_is_in_the_reason_and_the_rest_in_ignored() -> None:
    rules = jurisdictions(on_conflict="quarantine")
    decision = rules.classify(signals(declared="eu", upstream=["XX", "DE"], ip=CN_IP))
    assert (
        decision.reason == "conflict: declared: eu (d) vs upstream_country: DE -> eu (u2) vs ip: CN -> cn (i)"
    )
    assert decision.ignored == ("upstream_country: XX, a marker for no country (u)",)


def test_quarantine_is_the_default_conflict_policy() -> None:
    rules = Jurisdictions(REGIONS, default_geolocator())
    assert rules.classify(signals(declared="eu", ip=CN_IP)).signal == "conflict"


def test_strictest_picks_cn_over_eu() -> None:
    decision = jurisdictions(on_conflict="strictest").classify(signals(declared="eu", ip=CN_IP))
    assert (decision.region, decision.signal, decision.country) == ("cn", "ip", "CN")
    assert decision.reason == "strictest: cn, of declared: eu (d) vs ip: CN -> cn (i)"


def test_strictest_picks_the_subset_of_transfers() -> None:
    # eu's {global} is a subset of us's {global, ads}.
    decision = jurisdictions(on_conflict="strictest").classify(signals(declared="us", ip=DE_IP))
    assert (decision.region, decision.signal) == ("eu", "ip")


def test_strictest_quarantines_incomparable_transfers() -> None:
    # eu sends pseudonymized copies, in tokenized ones: neither is narrower.
    decision = jurisdictions(on_conflict="strictest").classify(signals(declared="in", ip=DE_IP))
    assert (decision.region, decision.signal) == (None, "conflict")
    assert decision.reason == "conflict: declared: in (d) vs ip: DE -> eu (i)"


def test_strictest_settles_two_disagreeing_declarations_too() -> None:
    decision = jurisdictions(on_conflict="strictest").classify(signals(declared=["eu", "cn"]))
    assert (decision.region, decision.reason) == (
        "cn",
        "strictest: cn, of declared: eu (d) vs declared: cn (d2)",
    )


def test_strictest_breaks_a_tie_between_equally_narrow_regions_by_precedence() -> None:
    rules = Jurisdictions(
        {"CN": "cn", "RU": "ru", "DE": "eu"},
        default_geolocator(),
        ("declared", "ip"),
        "strictest",
        {"cn": {}, "ru": {}, "eu": {"global": "pseudonymized"}},
    )
    decision = rules.classify(signals(declared=["eu", "ru"], ip=CN_IP))
    assert (decision.region, decision.signal) == ("ru", "declared")


def test_strictest_quarantines_a_country_in_no_region() -> None:
    decision = jurisdictions(on_conflict="strictest").classify(signals(declared="BR", ip=CN_IP))
    assert (decision.region, decision.signal) == (None, "conflict")


def test_strictest_needs_every_region_s_transfers() -> None:
    with pytest.raises(ValueError, match="transfers of every region"):
        Jurisdictions(REGIONS, default_geolocator(), on_conflict="strictest", transfers={"eu": {}})


# --- Weak signals -------------------------------------------------------------------------------


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


def test_a_locale_that_names_no_country_is_no_signal_not_a_hold() -> None:
    decision = jurisdictions("locale", "ip").classify(signals(locale="de", ip=US_IP))
    assert decision.region == "us"


# --- Interning ----------------------------------------------------------------------------------


def test_decisions_are_interned_so_the_hot_path_reuses_them() -> None:
    rules = jurisdictions()
    assert rules.classify(signals(ip=US_IP)) is rules.classify(signals(ip="8.8.4.4"))


def test_malformed_evidence_is_part_of_the_cache_key() -> None:
    rules = jurisdictions()
    held = rules.classify(signals(declared=Unreadable("a JSON array, not a string"), ip=DE_IP))
    routed = rules.classify(signals(ip=DE_IP))
    assert held.region is None and routed.region == "eu"
    assert rules.classify(signals(declared=Unreadable("a JSON array, not a string"), ip=DE_IP)) is held
