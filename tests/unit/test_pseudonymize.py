"""Keyed, versioned pseudonyms, pinned forever by golden files so downstream joins never silently break."""

import hashlib
import hmac
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.keys import PseudonymKey
from streams.pseudonymize import HmacSha256, Pseudonymizer, normalize_email, normalize_phone, pseudonym

KEY = PseudonymKey("eu", 3, bytes(range(32)))
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "pseudonyms.json"


def golden_cases() -> list[dict[str, object]]:
    return orjson.loads(GOLDEN.read_bytes())["cases"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "case", golden_cases(), ids=lambda case: f"{case['key_id']}-{case['kind']}-{case['value']}"
)
def test_the_same_key_and_value_give_the_pinned_pseudonym_forever(case: dict[str, object]) -> None:
    key = PseudonymKey(str(case["key_id"]), int(str(case["version"])), bytes.fromhex(str(case["key_hex"])))
    assert Pseudonymizer(key).of(case["value"], str(case["kind"])) == case["pseudonym"]


def test_the_golden_file_covers_every_kind_and_more_than_one_key() -> None:
    cases = golden_cases()
    assert {c["kind"] for c in cases} >= {"user_id", "email", "phone", "ip", "name"}
    assert len({(c["key_id"], c["version"]) for c in cases}) >= 2


def test_pseudonym_is_keyed_versioned_and_stable() -> None:
    first = pseudonym("user-1", KEY)
    assert first.startswith("pz:eu:3:") and len(first) == len("pz:eu:3:") + 43
    assert pseudonym("user-1", KEY) == first
    assert pseudonym("user-1", PseudonymKey("eu", 3, bytes(32))) != first
    assert pseudonym("user-1", PseudonymKey("eu", 4, bytes(range(32)))).startswith("pz:eu:4:")
    assert pseudonym("user-2", KEY) != first


def test_pseudonym_is_not_a_plain_hash_of_the_value() -> None:
    value = "jane@example.com"
    digest_part = pseudonym(value, KEY).rsplit(":", 1)[1]
    for algorithm in ("md5", "sha1", "sha256"):
        plain = hashlib.new(algorithm, value.encode())
        assert plain.hexdigest() not in digest_part


def test_one_person_gets_one_pseudonym_however_the_email_is_written() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    spellings = [" Jane@Example.COM ", "jane@example.com", "JANE@EXAMPLE.COM"]
    assert len({pseudonymizer.of(s, "email") for s in spellings}) == 1
    assert normalize_email(" Jane@Example.COM ") == "jane@example.com"


@pytest.mark.parametrize(
    "written", ["+44 20 7946 0958", "+44-20-7946-0958", "+442079460958", "+44 (20) 7946 0958"]
)
def test_one_phone_number_gets_one_pseudonym_however_it_is_written(written: str) -> None:
    assert normalize_phone(written) == "+442079460958"
    assert Pseudonymizer(KEY).of(written, "phone") == pseudonym("+442079460958", KEY)


def test_numeric_and_text_ids_are_the_same_subject() -> None:
    assert Pseudonymizer(KEY).of(42, "user_id") == Pseudonymizer(KEY).of(" 42 ", "user_id")


def test_key_secret_never_shows_in_repr() -> None:
    assert "secret" not in repr(KEY) and str(bytes(range(32))) not in repr(KEY)


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), message=st.binary(max_size=300))
def test_the_cached_state_hmac_is_the_standard_hmac(key: bytes, message: bytes) -> None:
    assert HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=80))
def test_the_pseudonymizer_agrees_with_the_reference_pseudonym(value: str) -> None:
    key = PseudonymKey("eu", 3, bytes(range(32)))
    assert Pseudonymizer(key).of_normalized(value) == pseudonym(value, key)
