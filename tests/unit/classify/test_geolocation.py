"""Offline IP-to-country lookup, and the special-purpose ranges that are never a country."""

import pytest

from streams.classify.geolocation import Geolocator, default_geolocator
from tests.unit.classify.mmdb_files import write_country_db


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.142", "GB"),
        ("8.8.8.8", "US"),
        ("77.88.55.66", "RU"),
        ("114.114.114.114", "CN"),
        ("49.44.0.1", "IN"),
        ("2a00:1450:4001:80b::200e", "DE"),
        ("240e::1", "CN"),
        ("::ffff:81.2.69.142", "GB"),
    ],
)
def test_public_addresses_resolve_to_their_country(ip: str, country: str) -> None:
    assert default_geolocator().lookup(ip).country == country


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("64:ff9b::7272:7272", "CN"),  # NAT64 (RFC 6052): the IPv4 is the last 32 bits
        ("64:ff9b::81.2.69.142", "GB"),
        ("2002:7272:7272::1", "CN"),  # 6to4 (RFC 3056): the IPv4 follows the prefix
        ("2002:5102:458e:1::7", "GB"),
    ],
)
def test_nat64_and_6to4_addresses_are_placed_by_the_ipv4_they_carry(ip: str, country: str) -> None:
    assert default_geolocator().lookup(ip).country == country


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "192.168.1.20", "127.0.0.1", "172.16.5.4", "224.0.0.1", "::1", "fe80::1", "fd12::1"]
)
def test_private_and_reserved_addresses_are_no_signal(ip: str) -> None:
    answer = default_geolocator().lookup(ip)
    assert answer.country is None
    assert answer.reason == "not-public"


@pytest.mark.parametrize("ip", ["", "nonsense", "999.1.1.1", "10.1", "1.2.3.4.5", "::g", "0x7f.0.0.1"])
def test_invalid_addresses_are_no_signal(ip: str) -> None:
    answer = default_geolocator().lookup(ip)
    assert (answer.country, answer.reason) == (None, "invalid")


# One address in each IPv4 special-purpose range of RFC 6890, and IPv6 outside 2000::/3.
SPECIAL_ADDRESSES = [
    "0.1.2.3", "10.9.8.7", "100.64.0.1", "127.0.0.1", "169.254.1.1", "172.16.5.4", "192.0.0.9",
    "192.0.2.7", "192.88.99.1", "192.168.1.20", "198.18.0.1", "198.51.100.4", "203.0.113.9",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "::ffff:192.168.1.1",
    "1000:db8::1", "4000::1", "::8.8.8.8", "::1", "fe80::1", "fd12::1", "ff02::1", "2001:db8::1",
    # NAT64 and 6to4 carrying a special-purpose IPv4; NAT64's local-use prefix (RFC 8215).
    "64:ff9b::10.0.0.1", "64:ff9b::c0a8:101", "2002:a00:1::1", "2002:7f00:1::1", "64:ff9b:1::808:808",
]  # fmt: skip


def test_ipv6_outside_2000_slash_3_is_no_signal() -> None:
    # The bundled data places 1000:db8::1 in Germany; the rule, not the data, decides.
    answer = default_geolocator().lookup("1000:db8::1")
    assert (answer.country, answer.reason) == (None, "not-public")


@pytest.mark.parametrize("ip", SPECIAL_ADDRESSES)
def test_special_purpose_addresses_are_never_a_country_in_the_bundled_data(ip: str) -> None:
    assert default_geolocator().lookup(ip).reason == "not-public"


@pytest.fixture(scope="module")
def everywhere_db(tmp_path_factory: pytest.TempPathFactory) -> Geolocator:
    """A database that (wrongly) places every address in Germany: the rule must not depend on it."""
    from streams.classify.maxmind import MaxMindGeolocator

    path = tmp_path_factory.mktemp("geo") / "everywhere.mmdb"
    return MaxMindGeolocator(write_country_db(path, {"0.0.0.0/0": "DE", "::/1": "DE", "8000::/1": "DE"}))


@pytest.mark.parametrize("ip", SPECIAL_ADDRESSES)
def test_special_purpose_addresses_are_never_a_country_in_a_maxmind_database(
    everywhere_db: Geolocator, ip: str
) -> None:
    assert everywhere_db.lookup(ip).reason == "not-public"
    assert everywhere_db.lookup("85.214.132.117").country == "DE"  # the database does answer


@pytest.mark.parametrize("ip", ["1.2.3.4\x00", "８.８.８.８", "::\u0661"])
def test_text_that_no_socket_call_reads_is_invalid_not_an_exception(ip: str) -> None:
    assert default_geolocator().lookup(ip).reason == "invalid"


def test_the_bundled_data_says_the_day_it_was_built() -> None:
    from datetime import date

    from streams.classify.geolocation import default_geolocator

    geolocator = default_geolocator()
    assert geolocator.built == date(2024, 6, 18)  # the day in its name: ...-en-20240618
    assert geolocator.source.endswith("20240618")


def test_data_older_than_the_policy_allows_is_warned_about() -> None:
    from datetime import date

    from streams.classify.geolocation import data_age, default_geolocator

    geolocator = default_geolocator()
    fresh, warning = data_age(geolocator, 180, today=date(2024, 7, 18))
    assert (fresh, warning) == ("built 2024-06-18, 30 days ago", None)
    described, warning = data_age(geolocator, 180, today=date(2026, 12, 3))
    assert described == "built 2024-06-18, 898 days ago"
    assert warning is not None and "898 days old (jurisdiction.geolocation.max_age_days: 180)" in warning


def test_data_that_doesnt_say_its_date_is_warned_about_too() -> None:
    from streams.classify.geolocation import data_age

    class Undated:
        source = "somewhere"
        built = None

        def lookup(self, ip: str) -> object:
            raise AssertionError("not looked up")

    described, warning = data_age(Undated(), 180)  # type: ignore[arg-type]
    assert described == "build date unknown" and warning is not None and "somewhere" in warning
