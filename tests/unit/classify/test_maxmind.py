"""A MaxMind-format database as the geolocation source: answers, special ranges, and bad files."""

from pathlib import Path

import pytest

from streams.classify.maxmind import GeolocationDatabaseError, MaxMindGeolocator
from tests.unit.classify.mmdb_files import write_country_db


@pytest.fixture(scope="module")
def geolocator(tmp_path_factory: pytest.TempPathFactory) -> MaxMindGeolocator:
    path = tmp_path_factory.mktemp("geo") / "country.mmdb"
    write_country_db(
        path,
        {
            "81.0.0.0/25": "RU",
            "81.0.0.128/25": "CH",
            "8.8.8.0/24": "US",
            "2a00:1450::/32": "IE",
            "5.5.5.0/24": {"continent": {"code": "EU"}},
            "6.6.6.0/24": {"registered_country": {"iso_code": "US"}},
            "7.7.7.0/24": "ZZ",
            "10.0.0.0/8": "DE",  # a bad database must not make a private address a signal
        },
    )
    return MaxMindGeolocator(path)


@pytest.mark.parametrize(
    ("ip", "country", "reason"),
    [
        ("8.8.8.8", "US", "country"),
        ("2a00:1450:4001::1", "IE", "country"),
        ("::ffff:8.8.8.8", "US", "country"),
        ("10.1.2.3", None, "not-public"),
        ("127.0.0.1", None, "not-public"),
        ("192.0.2.7", None, "not-public"),
        ("::ffff:192.168.1.1", None, "not-public"),
        # The database answers 6to4 from its IPv4 data, so it is judged on that IPv4.
        ("2002:a00:1::1", None, "not-public"),
        ("2002:808:808::1", "US", "country"),
        # So is NAT64 (64:ff9b::/96), which the file doesn't alias: the IPv4 it carries is looked up.
        ("64:ff9b::808:808", "US", "country"),
        ("64:ff9b::8.8.8.8", "US", "country"),
        ("64:ff9b::a00:1", None, "not-public"),
        ("64:ff9b:1::808:808", None, "not-public"),  # the local-use NAT64 prefix is no place
        # Outside 2000::/3 nothing is a place, even where the file's IPv4 tree would answer.
        ("::10.0.0.1", None, "not-public"),
        ("::8.8.8.8", None, "not-public"),
        ("1000:db8::1", None, "not-public"),
        ("4000::1", None, "not-public"),
        ("2001::1", None, "not-public"),  # Teredo: the IPv4 it carries is a relay, not the user
        ("fe80::1", None, "not-public"),
        ("224.0.0.1", None, "not-public"),
        ("100.64.0.1", None, "not-public"),
        ("not an ip", None, "invalid"),
        ("10.1", None, "invalid"),
        ("9.9.9.9", None, "unknown"),
        ("5.5.5.5", None, "not-a-country"),
        ("6.6.6.6", None, "unknown"),
        ("7.7.7.7", None, "not-a-country"),
    ],
)
def test_lookup_answers(geolocator: MaxMindGeolocator, ip: str, country: str | None, reason: str) -> None:
    answer = geolocator.lookup(ip)
    assert (answer.country, answer.reason) == (country, reason)


def test_the_full_ip_decides_not_its_truncation(geolocator: MaxMindGeolocator) -> None:
    # Why the gateway geolocates before it truncates: the /24 of a Swiss address is Russian here.
    assert geolocator.lookup("81.0.0.200").country == "CH"
    assert geolocator.lookup("81.0.0.0").country == "RU"


def test_source_names_the_database_and_its_build_day(geolocator: MaxMindGeolocator) -> None:
    assert geolocator.source == "maxmind:GeoIP2-Country (country.mmdb)"
    assert geolocator.built is not None and geolocator.built.year >= 2000  # from the file's build_epoch


def test_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeolocationDatabaseError, match=r"nowhere\.mmdb: no such file"):
        MaxMindGeolocator(tmp_path / "nowhere.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"this is not a database" * 10)
    with pytest.raises(GeolocationDatabaseError, match=r"junk\.mmdb: not a MaxMind DB file"):
        MaxMindGeolocator(junk)


def test_the_policy_s_database_decides_in_the_pipeline(tmp_path: Path) -> None:
    from streams.config import parse_config
    from streams.keys.ring import development_keys
    from streams.outcomes import Source
    from streams.pipeline import Pipeline

    database = write_country_db(tmp_path / "country.mmdb", {"81.0.0.128/25": "CH", "8.8.8.0/24": "IN"})
    text = (Path(__file__).resolve().parents[3] / "config" / "minimal.yaml").read_text()
    config = parse_config(text + f"jurisdiction: {{geolocation: {{database: '{database}'}}}}\n")
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    bodies = (f'{{"ip_override": "{ip}", "client_id": "c1", "events": [{{"name": "x"}}]}}' for ip in
              ("81.0.0.200", "8.8.8.8"))  # fmt: skip
    swiss, indian = (
        pipeline.process(body.encode(), Source("events.ingest", 0, 0))[0].decision for body in bodies
    )
    assert swiss is not None and (swiss.region, swiss.country) == ("eu", "CH")
    assert indian is not None and (indian.region, indian.country) == ("in", "IN")


def test_a_replaced_file_takes_over_between_batches_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    path = write_country_db(tmp_path / "country.mmdb", {"8.8.8.0/24": "US"})
    geolocator = MaxMindGeolocator(path, check_every=60)
    assert geolocator.lookup("8.8.8.8").country == "US"  # now in its cache too
    # As geoipupdate does it: a new file written beside the old one, then renamed over it.
    write_country_db(tmp_path / "next.mmdb", {"8.8.8.0/24": "IN"})
    os.replace(tmp_path / "next.mmdb", path)
    assert geolocator.refresh(now=0) is False  # checked at most once a minute: not yet
    assert geolocator.lookup("8.8.8.8").country == "US"
    later = 10**9
    assert geolocator.refresh(now=later) is True
    assert geolocator.lookup("8.8.8.8").country == "IN"  # the new data, not the old cache
    assert geolocator.refresh(now=2 * later) is False  # the same file again: nothing to do

    # A broken file never replaces working data: kept, warned about once, retried when it changes.
    (tmp_path / "broken.mmdb").write_bytes(b"half a download" * 100)
    os.replace(tmp_path / "broken.mmdb", path)
    with caplog.at_level("WARNING", logger="streams.classify.maxmind"):
        assert geolocator.refresh(now=3 * later) is False
        assert geolocator.refresh(now=4 * later) is False
    assert geolocator.lookup("8.8.8.8").country == "IN"
    kept = [r.getMessage() for r in caplog.records if "kept" in r.getMessage()]
    assert len(kept) == 1 and "not a MaxMind DB file" in kept[0]
    write_country_db(tmp_path / "fixed.mmdb", {"8.8.8.0/24": "BR"})
    os.replace(tmp_path / "fixed.mmdb", path)
    assert geolocator.refresh(now=5 * later) is True and geolocator.lookup("8.8.8.8").country == "BR"
    # A file gone for a moment (between an unlink and a rename) keeps the loaded data.
    path.unlink()
    assert geolocator.refresh(now=6 * later) is False and geolocator.lookup("8.8.8.8").country == "BR"


def test_the_pipeline_decides_with_the_replaced_file_after_a_refresh(tmp_path: Path) -> None:
    import os

    from streams.config import parse_config
    from streams.keys.ring import development_keys
    from streams.outcomes import Source
    from streams.pipeline import Pipeline

    database = write_country_db(tmp_path / "country.mmdb", {"8.8.8.0/24": "IN"})
    text = (Path(__file__).resolve().parents[3] / "config" / "minimal.yaml").read_text()
    config = parse_config(text + f"jurisdiction: {{geolocation: {{database: '{database}'}}}}\n")
    geolocator = MaxMindGeolocator(database, check_every=0)
    pipeline = Pipeline(config, development_keys(config.key_regions()), geolocator=geolocator)
    body = b'{"ip_override": "8.8.8.8", "client_id": "c1", "events": [{"name": "x"}]}'

    def region() -> str | None:
        decision = pipeline.process(body, Source("events.ingest", 0, 0))[0].decision
        return None if decision is None else decision.region

    assert region() == "in"
    write_country_db(tmp_path / "next.mmdb", {"8.8.8.0/24": "CH"})
    os.replace(tmp_path / "next.mmdb", database)
    assert region() == "in"  # decided by the loaded data until the engine's next batch boundary
    assert pipeline.refresh_geolocation() is True
    assert region() == "eu"
