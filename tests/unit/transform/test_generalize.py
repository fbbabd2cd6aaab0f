"""Generalizing a field for the copy that leaves its region: coarser values out, unparseable ones dropped."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.transform.generalize import DROP, country_only, hour_of, ip_prefix, user_agent_family

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36"
)
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1.2 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Not a value of any kind we generalize; text only some of them reject is listed where it applies.
GARBAGE: list[Any] = ["", None, True, False, {"nested": {"value": 1}}, [1, 2], 1.5]
COUNTRY_KEYS = frozenset({"country", "country_id", "continent"})


# --- ip_prefix ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("81.2.69.142", "81.2.69.0"),
        ("81.2.69.0", "81.2.69.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("2a00:1450:4001:80b::200e", "2a00:1450:4001::"),
        ("2A00:1450:4001:080B:0000:0000:0000:200E", "2a00:1450:4001::"),
        ("2001:db8::1", "2001:db8::"),
        ("fe80::1", "fe80::"),
        ("::1", "::"),
        ("::", "::"),
        ("::ffff:81.2.69.142", "81.2.69.0"),
        ("::ffff:5102:458e", "81.2.69.0"),
        ("::81.2.69.142", "81.2.69.0"),
        # 6to4 carries the site's whole IPv4 address in its /48: only that address's /24 stays.
        ("2002:5102:458e:1::1", "2002:5102:4500::"),
    ],
)
def test_ip_address_is_cut_to_its_network(address: str, network: str) -> None:
    assert ip_prefix(address) == network


@pytest.mark.parametrize(
    "value",
    [
        *GARBAGE,
        "not an address",
        "81.2.69",
        "81.2.69.256",
        "081.2.69.142",
        " 81.2.69.142",
        "81.2.69.142\n",
        "81.2.69.142:443",
        "[2a00:1450:4001:80b::200e]",
        "fe80::1%eth0",
        "2a00:1450:4001:80b::200e::1",
        "81.2.69.142/24",
        1359103374,
        b"81.2.69.142",
    ],
)
def test_anything_but_an_ip_address_is_dropped(value: Any) -> None:
    assert ip_prefix(value) is DROP


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_keeps_exactly_its_first_three_octets(address: ipaddress.IPv4Address) -> None:
    text = str(address)
    result = ip_prefix(text)
    assert isinstance(result, str) and result.endswith(".0")
    assert result.split(".")[:3] == text.split(".")[:3]


@given(st.ip_addresses(v=6))
def test_an_ipv6_address_keeps_no_more_than_its_first_48_bits(address: ipaddress.IPv6Address) -> None:
    result = ip_prefix(str(address))
    assert isinstance(result, str)
    network = ipaddress.ip_address(result)
    if network.version == 4:
        assert int(network) & 0xFF == 0
    else:
        assert int(network) & ((1 << 80) - 1) == 0
        assert int(address) >> 80 == int(network) >> 80 or address in ipaddress.ip_network("2002::/16")


# --- hour_of --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "hour"),
    [
        ("2024-05-01T13:45:12.123Z", "2024-05-01T13:00:00.000Z"),
        ("2024-05-01T13:45:12Z", "2024-05-01T13:00:00Z"),
        ("2024-05-01T13:45:12+02:00", "2024-05-01T13:00:00+02:00"),
        ("2024-05-01T13:45:12.5-0530", "2024-05-01T13:00:00.0-0530"),
        ("2024-05-01T13:45:12.123456789+05", "2024-05-01T13:00:00.000000000+05"),
        ("2024-05-01T13:45:12,123Z", "2024-05-01T13:00:00,000Z"),
        ("2024-05-01T13:45:12", "2024-05-01T13:00:00"),
        ("2024-05-01T13:45", "2024-05-01T13:00"),
        ("2024-05-01T23:59:60Z", "2024-05-01T23:00:00Z"),
        ("2024-05-01 13:45:12.123", "2024-05-01 13:00:00.000"),
        ("2024-05-01", "2024-05-01"),
    ],
)
def test_iso_time_is_cut_to_its_hour_in_the_same_shape(timestamp: str, hour: str) -> None:
    assert hour_of(timestamp) == hour


@pytest.mark.parametrize(
    ("timestamp", "hour"),
    [
        (1700000000123, 1699999200000),  # epoch milliseconds (Snowplow dtm/stm)
        ("1700000000123", "1699999200000"),
        (1700000000123456, 1699999200000000),  # epoch microseconds (GA4 timestamp_micros)
        ("1700000000123456", "1699999200000000"),
        (1700000000, 1699999200),  # epoch seconds
        ("1700000000", "1699999200"),
        (1700000000.75, 1699999200.0),
        ("1700000000.75", "1699999200.00"),
        (1699999200000, 1699999200000),
    ],
)
def test_epoch_time_is_floored_to_its_hour_in_the_same_type(timestamp: Any, hour: Any) -> None:
    result = hour_of(timestamp)
    assert result == hour and type(result) is type(hour)


@pytest.mark.parametrize(
    "value",
    [
        *GARBAGE,
        "not a time",
        float("nan"),
        float("inf"),
        -1700000000123,
        0,
        170000000,  # 9 digits: seconds in 1975 or milliseconds in 1970, can't tell
        17000000001234,  # 14 digits
        "-1700000000123",
        "+1700000000123",
        "1700000000123 ",
        "1" + "0" * 40,
        "١٧٠٠٠٠٠٠٠٠١٢٣",  # digits, but not ASCII ones
        "2024-05-01T1a:45:12Z",
        "2024-05-01T13:4:12Z",
        "2024-05-01T13:45:1xZ",
        "2024-05-01T24:00:00Z",
        "2024-05-01T13:60:00Z",
        "2024-13-01T13:45:12Z",
        "2024-05-32",
        "2024-05-01T13:45:12.Z",
        "2024-05-01T13:45:12Z trailing",
        "2024-05-01T13:45:12\n",
        "20240501T134512Z",
        "May 1, 2024 13:45",
    ],
)
def test_anything_but_a_time_is_dropped(value: Any) -> None:
    assert hour_of(value) is DROP


@given(st.integers(min_value=10**12, max_value=10**13 - 1))
def test_epoch_millis_fall_to_the_start_of_their_hour(millis: int) -> None:
    hour = hour_of(millis)
    assert type(hour) is int
    assert hour <= millis < hour + 3_600_000
    assert hour % 3_600_000 == 0


# --- user_agent_family ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "family"),
    [
        (CHROME_WINDOWS, "Chrome 120 / Windows 10"),
        (SAFARI_IOS, "Mobile Safari 17 / iOS 17"),
        (FIREFOX_LINUX, "Firefox 132 / Linux"),
        (GOOGLEBOT, "Googlebot 2 / Other"),
        ("MyApp/1.2 (iPhone; iOS 17.1)", "Mobile Safari UI/WKWebView / iOS 17"),
        ("curl/8.4.0", "curl 8 / Other"),
        ("something nobody has ever sent", "Other / Other"),
    ],
)
def test_user_agent_becomes_browser_and_os_with_major_versions(user_agent: str, family: str) -> None:
    assert user_agent_family(user_agent) == family


def test_an_overlong_user_agent_is_parsed_from_its_start() -> None:
    padded = CHROME_WINDOWS + " (pad)" * 2000
    assert user_agent_family(padded) == "Chrome 120 / Windows 10"


@pytest.mark.parametrize("value", [*GARBAGE, "   ", 120, "\ud800 Chrome/120.0"])
def test_anything_but_a_user_agent_is_dropped(value: Any) -> None:
    assert user_agent_family(value) is DROP


# --- country_only ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geo", "kept"),
    [
        (
            {"country": "DE", "city": "Berlin", "latitude": 52.52, "longitude": 13.4, "continent": "EU"},
            {"country": "DE", "continent": "EU"},
        ),
        ({"country_id": "FR", "zipcode": "75001"}, {"country_id": "FR"}),
        ({"country": "DE"}, {"country": "DE"}),
    ],
)
def test_a_geo_object_keeps_only_its_country_keys(geo: dict[str, Any], kept: dict[str, Any]) -> None:
    before = dict(geo)
    assert country_only(geo, COUNTRY_KEYS) == kept
    assert geo == before  # the event's own object is never changed


@pytest.mark.parametrize(
    "value", [{}, {"city": "Berlin", "latitude": 52.52}, "DE", None, True, ["country", "DE"], 49]
)
def test_a_geo_value_with_no_country_left_is_dropped(value: Any) -> None:
    assert country_only(value, COUNTRY_KEYS) is DROP
