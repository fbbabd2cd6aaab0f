"""Reversible tokens under per-subject keys: stable for joins, unreadable once the key is gone."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.keys.ring import PseudonymKey
from streams.subjects.tokens import (
    SubjectKey,
    TokenUnreadable,
    WrappedKeyUnreadable,
    detokenize,
    new_subject_key,
    subject_ref,
    token,
    unwrap,
    wrap,
)
from streams.transform.pseudonymize import pseudonym

EU = PseudonymKey("eu", 3, bytes(range(32)))
US = PseudonymKey("us", 3, bytes(range(32, 64)))
JANE = SubjectKey("00112233aabbccdd", bytes(range(64)), 3)
JOHN = SubjectKey("ffeeddcc99887766", bytes(range(64, 128)), 3)


def only(*keys: SubjectKey) -> Callable[[str, str], SubjectKey | None]:
    known = {k.dek_id: k for k in keys}
    return lambda region, dek_id: known.get(dek_id) if region == "eu" else None


def test_token_round_trips_and_names_region_and_key() -> None:
    made = token("jane@example.com", JANE, "eu")
    assert made.startswith("tk:eu:00112233aabbccdd:")
    assert "jane" not in made
    assert detokenize(made, only(JANE)) == "jane@example.com"


@given(st.text())
def test_any_text_round_trips(value: str) -> None:
    assert detokenize(token(value, JANE, "eu"), only(JANE)) == value


def test_same_subject_and_value_give_the_same_token_so_joins_work() -> None:
    assert token("user-1", JANE, "eu") == token("user-1", JANE, "eu")
    assert token("user-1", JANE, "eu") != token("user-2", JANE, "eu")


def test_another_subjects_key_gives_another_token() -> None:
    assert token("user-1", JANE, "eu").rsplit(":", 1)[1] != token("user-1", JOHN, "eu").rsplit(":", 1)[1]


def test_token_is_unreadable_once_the_subject_key_is_gone() -> None:
    made = token("jane@example.com", JANE, "eu")
    with pytest.raises(TokenUnreadable) as caught:
        detokenize(made, lambda region, dek_id: None)
    assert "jane" not in str(caught.value)


def flip_last_ciphertext_byte(made: str) -> str:
    head, encoded = made.rsplit(":", 1)
    sealed = bytearray(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    sealed[-1] ^= 1
    return f"{head}:{base64.urlsafe_b64encode(bytes(sealed)).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        flip_last_ciphertext_byte,
        lambda t: t.replace("tk:eu:", "tk:us:"),  # moved to another region
        lambda t: t.replace("00112233aabbccdd", "ffeeddcc99887766"),  # relabelled to another key
        lambda t: t.rsplit(":", 1)[0] + ":!!!",
        lambda t: t.replace("tk:", "pz:"),
        lambda t: t.rsplit(":", 1)[0],
        lambda t: "",
    ],
)
def test_tampered_or_malformed_tokens_are_unreadable_and_never_echo_the_value(
    tamper: Callable[[str], str],
) -> None:
    made = token("jane@example.com", JANE, "eu")
    both = {JANE.dek_id: JANE, JOHN.dek_id: JOHN}
    with pytest.raises(TokenUnreadable) as caught:
        detokenize(tamper(made), lambda region, dek_id: both.get(dek_id))
    assert "jane" not in str(caught.value)
    assert made.rsplit(":", 1)[1] not in str(caught.value)


def test_wrapped_subject_key_unwraps_under_its_region_key() -> None:
    fresh = new_subject_key(EU)
    assert len(fresh.secret) == 64 and len(fresh.dek_id) == 16 and fresh.wrapped_with == 3
    blob = wrap(EU, fresh)
    assert fresh.secret not in blob
    assert unwrap(EU, blob) == fresh
    assert "secret" not in repr(fresh) and fresh.secret.hex() not in repr(fresh)


@pytest.mark.parametrize(
    "other",
    [
        US,  # another region's key
        PseudonymKey("us", 3, EU.secret),  # same bytes, but bound to another region
        PseudonymKey("eu", 4, EU.secret),  # another version
        PseudonymKey("eu", 3, bytes(32)),  # another key
    ],
)
def test_wrapped_subject_key_does_not_unwrap_under_another_key(other: PseudonymKey) -> None:
    with pytest.raises(WrappedKeyUnreadable):
        unwrap(other, wrap(EU, JANE))


def test_a_tampered_wrapped_key_does_not_unwrap() -> None:
    blob = bytearray(wrap(EU, JANE))
    blob[5] ^= 1  # inside the key id, which is bound as associated data
    with pytest.raises(WrappedKeyUnreadable):
        unwrap(EU, bytes(blob))
    with pytest.raises(WrappedKeyUnreadable):
        unwrap(EU, b"short")


def test_subject_ref_is_keyed_stable_and_not_the_gateways_pseudonym() -> None:
    ref = subject_ref(EU, "jane@example.com")
    assert ref == subject_ref(EU, "jane@example.com")
    assert ref.startswith("3.") and "jane" not in ref
    assert ref != subject_ref(EU, "john@example.com")
    assert ref != subject_ref(US, "jane@example.com")
    assert ref.split(".", 1)[1] != pseudonym("jane@example.com", EU).rsplit(":", 1)[1]
