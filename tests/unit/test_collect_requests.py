"""What the collector makes of a request (streams/collect/requests.py), without a server or a broker."""

from __future__ import annotations

import base64
import gzip

import orjson
import pytest

from streams.collect.requests import (
    Origin,
    Rejected,
    cdn_country,
    client_ip,
    ga4_record,
    inflate,
    json_document,
    networks,
    segment_records,
    snowplow_get_record,
    snowplow_post_record,
    write_key,
)

PROXIES = networks(["10.0.0.0/8", "2001:db8::/32"])
ORIGIN = Origin("81.2.69.142", None)


def test_a_gzip_bomb_is_refused_without_inflating_past_the_limit() -> None:
    bomb = gzip.compress(b"\x00" * 50_000_000)  # 50 MB of zeros in ~50 KB
    assert len(bomb) < 100_000
    with pytest.raises(Rejected) as refused:
        inflate(bomb, "gzip", 500 * 1024)
    assert refused.value.status == 413
    assert inflate(gzip.compress(b'{"a":1}'), "gzip", 100) == b'{"a":1}'
    with pytest.raises(Rejected, match="can't be read"):
        inflate(b"not gzip at all", "gzip", 100)
    with pytest.raises(Rejected) as plain:
        inflate(b"x" * 101, None, 100)
    assert plain.value.status == 413


def test_malformed_json_is_a_400_that_quotes_nothing() -> None:
    with pytest.raises(Rejected) as refused:
        json_document(b'{"email": "jane@example.com", oops}')
    assert refused.value.status == 400 and "jane" not in refused.value.reason


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("203.0.113.9", {"x-forwarded-for": "81.2.69.142"}, "203.0.113.9"),  # spoofed: untrusted peer
        ("10.1.2.3", {"x-forwarded-for": "81.2.69.142"}, "81.2.69.142"),
        (
            "10.1.2.3",
            {"x-forwarded-for": "1.1.1.1, 81.2.69.142, 10.9.9.9"},
            "81.2.69.142",
        ),  # the client prepended
        ("10.1.2.3", {"forwarded": 'for=192.0.2.60;proto=http, for="[2001:db8::7]:4711"'}, "192.0.2.60"),
        ("10.1.2.3", {"forwarded": "for=81.2.69.142:5555"}, "81.2.69.142"),
        ("10.1.2.3", {}, "10.1.2.3"),
        ("10.1.2.3", {"x-forwarded-for": "not-an-ip"}, "10.1.2.3"),
    ],
)
def test_the_client_ip_is_the_peer_unless_a_trusted_proxy_names_it(
    peer: str, headers: dict[str, str], expected: str
) -> None:
    assert client_ip(peer, headers, PROXIES) == expected


def test_a_cdn_country_counts_only_from_a_trusted_proxy() -> None:
    assert cdn_country("203.0.113.9", {"cf-ipcountry": "DE"}, PROXIES) is None
    assert cdn_country("10.0.0.1", {"cf-ipcountry": "de"}, PROXIES) == ("cf-ipcountry", "DE")
    assert cdn_country("10.0.0.1", {"cf-ipcountry": "XX1"}, PROXIES) is None


def test_write_keys_from_basic_auth_or_the_body() -> None:
    basic = "Basic " + base64.b64encode(b"key-1:").decode()
    assert write_key({"authorization": basic}, {}) == "key-1"
    assert write_key({}, {"writeKey": "key-2"}) == "key-2"
    assert write_key({}, {}) is None
    with pytest.raises(Rejected) as refused:
        write_key({"authorization": "Basic %%%"}, {})
    assert refused.value.status == 401


def test_segment_records_carry_the_ip_where_the_format_reads_it_and_never_the_write_key() -> None:
    batch = {
        "writeKey": "key-1",
        "batch": [
            {"type": "track", "event": "a", "userId": "u", "writeKey": "key-1"},
            {"type": "track", "event": "b", "userId": "u", "context": {"ip": "8.8.8.8"}},  # its own IP stays
        ],
    }
    origin = Origin("81.2.69.142", ("cf-ipcountry", "GB"))
    [record] = segment_records("batch", batch, origin, 32 * 1024)
    written = orjson.loads(record)
    assert "writeKey" not in written and all("writeKey" not in e for e in written["batch"])
    assert written["batch"][0]["context"] == {"ip": "81.2.69.142", "headers": {"cf-ipcountry": "GB"}}
    assert written["batch"][1]["context"]["ip"] == "8.8.8.8"
    [single] = segment_records("track", {"event": "x", "userId": "u"}, ORIGIN, 32 * 1024)
    assert orjson.loads(single)["type"] == "track"
    with pytest.raises(Rejected) as mismatch:
        segment_records("track", {"type": "identify", "userId": "u"}, ORIGIN, 32 * 1024)
    assert mismatch.value.status == 400


def test_an_event_over_the_limit_is_413() -> None:
    big = {"batch": [{"type": "track", "event": "a", "userId": "u", "properties": {"x": "y" * 40_000}}]}
    with pytest.raises(Rejected) as refused:
        segment_records("batch", big, ORIGIN, 32 * 1024)
    assert refused.value.status == 413


def test_snowplow_and_ga4_records() -> None:
    post = orjson.loads(
        snowplow_post_record({"schema": "s", "data": [{"e": "pv"}, {"e": "pv", "ip": "1.2.3.4"}]}, ORIGIN)
    )
    assert [e["ip"] for e in post["data"]] == ["81.2.69.142", "1.2.3.4"]
    pixel = orjson.loads(snowplow_get_record([("e", "pv"), ("url", "https://x")], ORIGIN))
    assert pixel == {"e": "pv", "url": "https://x", "ip": "81.2.69.142"}
    with pytest.raises(Rejected):
        snowplow_get_record([("url", "https://x")], ORIGIN)
    ga4 = orjson.loads(
        ga4_record(
            {"client_id": "c", "events": [{"name": "x"}]}, Origin("81.2.69.142", ("cf-ipcountry", "GB"))
        )
    )
    assert ga4["ip_override"] == "81.2.69.142" and ga4["user_location"] == {"country_id": "GB"}
    kept = orjson.loads(ga4_record({"client_id": "c", "ip_override": "8.8.8.8", "events": []}, ORIGIN))
    assert kept["ip_override"] == "8.8.8.8"


def test_a_segment_webhook_signature_is_the_bodys_hmac_under_a_known_key() -> None:
    import hashlib
    import hmac

    from streams.collect.requests import signed_by

    body = b'{"type":"track","event":"a"}'
    signature = hmac.new(b"secret-2", body, hashlib.sha1).hexdigest()
    assert signed_by(body, signature, ["secret-1", "secret-2"])
    assert not signed_by(body + b" ", signature, ["secret-1", "secret-2"])  # another body
    assert not signed_by(body, signature, ["secret-1"])  # another key


def test_webhook_events_are_kept_as_they_came_without_an_ip_of_ours() -> None:
    from streams.collect.requests import webhook_records

    [single] = webhook_records({"type": "track", "event": "a", "writeKey": "k"}, 32 * 1024)
    assert orjson.loads(single) == {"type": "track", "event": "a"}  # no context.ip: the peer is the CDP
    assert len(webhook_records([{"type": "track"}, {"type": "page"}], 32 * 1024)) == 2
    for bad in ([], [1], "text"):
        with pytest.raises(Rejected) as refused:
            webhook_records(bad, 32 * 1024)
        assert refused.value.status == 400


def test_write_keys_come_from_the_variable_and_a_secrets_file(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from streams.collect.server import WriteKeys

    secrets = Path(str(tmp_path)) / "keys"
    secrets.write_text("# the web SDK's\nwk-file-1\n\n  wk-file-2  \n")
    keys = WriteKeys("KEYS", environ={"KEYS": "wk-env-1, ,wk-env-2"}, file=str(secrets))
    assert len(keys) == 4 and all(keys.allows(k) for k in ("wk-env-1", "wk-env-2", "wk-file-1", "wk-file-2"))
    assert not keys.allows("# the web SDK's") and not keys.allows("") and not keys.allows(None)
    assert len(WriteKeys("KEYS", environ={})) == 0  # nothing set: every keyed request gets 401


def test_an_ambiguous_body_is_refused_not_settled_and_big_ids_keep_their_digits() -> None:
    # orjson would keep the last ip: the gateway dead-letters such a payload, so the collector
    # must not hand it a settled one.
    with pytest.raises(Rejected) as refused:
        json_document(b'{"type":"track","userId":"u","context":{"ip":"8.8.8.8","ip":"81.2.69.142"}}')
    assert refused.value.status == 400 and "duplicate key" in refused.value.reason
    document = json_document(b'{"type":"track","userId":18446744073709551617}')
    [record] = segment_records("track", document, ORIGIN, 32 * 1024)
    assert b'"userId":18446744073709551617' in record  # not 1.8446744073709552e+19


def test_a_repeated_pixel_parameter_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        snowplow_get_record([("e", "pv"), ("ip", "8.8.8.8"), ("ip", "81.2.69.142")], ORIGIN)
    assert refused.value.status == 400


def test_repeated_headers_are_one_list_and_two_countries_are_none() -> None:
    from streams.collect.requests import header_values

    headers = header_values(
        [
            ("X-Forwarded-For", "1.1.1.1"),
            ("x-forwarded-for", "81.2.69.142"),
            ("CF-IPCountry", "DE"),
            ("cf-ipcountry", "US"),
        ]
    )
    assert headers["x-forwarded-for"] == "1.1.1.1, 81.2.69.142"
    assert client_ip("10.0.0.1", headers, PROXIES) == "81.2.69.142"
    assert cdn_country("10.0.0.1", headers, PROXIES) is None


def test_a_country_header_the_event_carries_in_any_casing_is_kept_alone() -> None:
    event = {"type": "track", "event": "a", "userId": "u", "context": {"headers": {"CF-IPCountry": "FR"}}}
    [record] = segment_records("track", event, Origin("81.2.69.142", ("cf-ipcountry", "DE")), 32 * 1024)
    assert orjson.loads(record)["context"]["headers"] == {"CF-IPCountry": "FR"}


def test_a_type_mismatch_error_quotes_nothing_sent() -> None:
    with pytest.raises(Rejected) as refused:
        segment_records("track", {"type": "jane@example.com", "userId": "u"}, ORIGIN, 32 * 1024)
    assert "jane" not in refused.value.reason
