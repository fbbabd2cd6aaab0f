"""Keyed, versioned pseudonyms, pinned forever by golden files so downstream joins never silently break."""

import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.formats.exact_json import BigInt, read_json
from streams.keys.ring import PseudonymKey
from streams.subjects.erasure import normalize_identifier, normalize_subject
from streams.transform.pseudonymize import (
    HmacSha256,
    Pseudonymizer,
    normalize_email,
    normalize_phone,
    pseudonym,
)

KEY = PseudonymKey("eu", 3, bytes(range(32)))
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "pseudonyms.json"


def golden_cases() -> list[dict[str, object]]:
    # Read exactly: a user id past 64 bits is pinned as its digits, not as a float.
    return read_json(GOLDEN.read_bytes())["cases"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "case", golden_cases(), ids=lambda case: f"{case['key_id']}-{case['kind']}-{case['value']}"
)
def test_the_same_key_and_value_give_the_pinned_pseudonym_forever(case: dict[str, object]) -> None:
    key = PseudonymKey(str(case["key_id"]), int(str(case["version"])), bytes.fromhex(str(case["key_hex"])))
    country = case.get("country")
    assert Pseudonymizer(key).of(case["value"], str(case["kind"]), country) == case["pseudonym"]


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


@pytest.mark.parametrize(
    "written", ["020 7946 0958", "(020) 7946-0958", "0044 20 7946 0958", "00442079460958"]
)
def test_a_uk_number_written_without_plus_is_the_number_written_with_it(written: str) -> None:
    assert normalize_phone(written, "GB") == "+442079460958"
    assert Pseudonymizer(KEY).of(written, "phone", "GB") == Pseudonymizer(KEY).of("+44 20 7946 0958", "phone")


def test_the_00_international_prefix_counts_as_plus_without_a_country() -> None:
    assert normalize_phone("0044 20 7946 0958") == normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("country", [None, "GB", "US", "DE"])
@pytest.mark.parametrize(
    ("written", "today"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (202) 555-0143", "+12025550143"),
        # Read as libphonenumber reads it, as the value scan reads it in text: one number, one pseudonym.
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+1 202 555 0143 ext. 7", "+12025550143"),
        ("+999 123", "+999123"),  # not a valid number: its digits, as always
    ],
)
def test_a_number_written_with_plus_is_read_as_written_whatever_the_country(
    written: str, today: str, country: str | None
) -> None:
    assert normalize_phone(written, country) == today


@pytest.mark.parametrize(
    ("written", "country", "digits"),
    [
        ("12345", "GB", "12345"),  # too short to be a UK number
        ("020 7946 0958", None, "02079460958"),  # no country to read it in
        ("020 7946 0958", "XX", "02079460958"),  # a country libphonenumber doesn't know
        ("order 42-7", "DE", "427"),
        ("not a phone", "FR", ""),
    ],
)
def test_what_is_not_a_valid_number_in_its_country_keeps_its_digits(
    written: str, country: str | None, digits: str
) -> None:
    assert normalize_phone(written, country) == digits


def test_the_country_a_number_is_read_in_is_part_of_its_pseudonym() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    uk, us = (
        pseudonymizer.of("020 7946 0958", "phone", "GB"),
        pseudonymizer.of("020 7946 0958", "phone", "US"),
    )
    assert uk == pseudonym("+442079460958", KEY) and us == pseudonym("02079460958", KEY)


def test_an_email_user_id_gets_the_pseudonym_of_that_email_in_traits() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    email = pseudonymizer.of("jane.doe@example.com", "email")
    assert pseudonymizer.of(" Jane.Doe@Example.COM ", "user_id") == email
    assert pseudonymizer.of("JANE.DOE@EXAMPLE.COM", "anonymous_id") == email


@pytest.mark.parametrize(
    "identifier",
    ["Anon-ABC", "User@Tenant", "a@b@Example.com", "Jane Doe@Example.com", "Jane@.com", "Jane@com."],
)
def test_ids_that_only_look_like_emails_keep_their_case(identifier: str) -> None:
    assert normalize_identifier(identifier) == identifier


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=40), st.integers(min_value=-(2**80), max_value=2**80)))
def test_erasure_names_a_subject_as_pseudonyms_do(value: str | int) -> None:
    assert normalize_subject(value) == normalize_identifier(value)


def test_user_ids_past_64_bits_are_their_digits() -> None:
    big = read_json(b"18446744073709551617")
    assert isinstance(big, BigInt) and normalize_identifier(big) == "18446744073709551617"
    assert normalize_subject(big) == "18446744073709551617"
    assert Pseudonymizer(KEY).of(big, "user_id") != Pseudonymizer(KEY).of(
        read_json(b"18446744073709551618"), "user_id"
    )


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
