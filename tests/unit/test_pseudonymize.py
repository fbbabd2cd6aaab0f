"""The copy that may leave a region: keyed pseudonyms, truncated IPs, nothing mutated."""

import copy
import hashlib

import pytest

from streams.formats.segment import SegmentFormat
from streams.formats.snowplow import SnowplowFormat
from streams.keys import PseudonymKey
from streams.pseudonymize import pseudonym, pseudonymized_copy, truncate_ip

KEY = PseudonymKey("eu", 3, bytes(range(32)))


def test_pseudonym_is_keyed_versioned_and_stable() -> None:
    first = pseudonym("user-1", KEY)
    assert first.startswith("pz:eu:3:") and len(first) == len("pz:eu:3:") + 43
    assert pseudonym("user-1", KEY) == first
    assert pseudonym("user-1", PseudonymKey("eu", 3, bytes(32))) != first
    assert pseudonym("user-2", KEY) != first


def test_pseudonym_is_not_a_plain_hash_of_the_value() -> None:
    value = "jane@example.com"
    digest_part = pseudonym(value, KEY).rsplit(":", 1)[1]
    for algorithm in ("md5", "sha1", "sha256"):
        plain = hashlib.new(algorithm, value.encode())
        assert plain.hexdigest() not in digest_part


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("81.2.69.142", "81.2.69.0"),
        ("2a00:1450:4001:80b::200e", "2a00:1450:4001::"),
        ("not an ip", None),
    ],
)
def test_ips_are_truncated_to_24_and_48_bits(ip: str, truncated: str | None) -> None:
    assert truncate_ip(ip) == truncated


def test_segment_copy_pseudonymizes_ids_and_emails_and_leaves_the_input_alone() -> None:
    event = {
        "type": "identify",
        "userId": 42,
        "anonymousId": "anon-1",
        "traits": {"email": " Jane@Example.COM ", "plan": "pro"},
        "context": {"ip": "81.2.69.142", "traits": {"email": "jane@example.com"}, "locale": "en-GB"},
    }
    before = copy.deepcopy(event)
    out = pseudonymized_copy(event, SegmentFormat(), KEY)
    assert event == before
    assert out["userId"] == pseudonym("42", KEY)
    assert out["anonymousId"] == pseudonym("anon-1", KEY)
    # Normalized first, so the same person gets the same pseudonym wherever the email sits.
    assert out["traits"]["email"] == out["context"]["traits"]["email"] == pseudonym("jane@example.com", KEY)
    assert out["context"]["ip"] == "81.2.69.0"
    assert out["traits"]["plan"] == "pro" and out["context"]["locale"] == "en-GB"


def test_snowplow_copy_pseudonymizes_user_ids_and_truncates_the_ip() -> None:
    event = {"e": "pv", "uid": "u1", "duid": "d1", "ip": "8.8.8.8", "url": "https://x"}
    out = pseudonymized_copy(event, SnowplowFormat(), KEY)
    assert out["uid"] == pseudonym("u1", KEY) and out["duid"] == pseudonym("d1", KEY)
    assert out["ip"] == "8.8.8.0" and out["url"] == "https://x"


def test_an_unparseable_ip_is_dropped_not_copied() -> None:
    out = pseudonymized_copy({"type": "page", "context": {"ip": "garbage-ip"}}, SegmentFormat(), KEY)
    assert "ip" not in out["context"]


def test_key_secret_never_shows_in_repr() -> None:
    assert "secret" not in repr(KEY) and str(bytes(range(32))) not in repr(KEY)
