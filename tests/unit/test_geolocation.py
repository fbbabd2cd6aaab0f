"""Offline IP-to-country lookup."""

import pytest

from streams.geolocation import default_geolocator


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
