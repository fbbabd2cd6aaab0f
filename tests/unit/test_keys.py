"""Key loading: environment keys, development keys, and refusals that never echo a key."""

import base64

import pytest

from streams.keys import KeyUnavailable, development_keys, keys_from_env

GOOD = "2:" + base64.b64encode(b"k" * 32).decode()


def test_env_keys_carry_their_version() -> None:
    ring = keys_from_env(["eu", "us"], "RG_", {"RG_EU": GOOD, "RG_US": GOOD})
    assert ring.for_region("eu").version == 2 and not ring.ephemeral


def test_every_missing_or_bad_key_is_named_without_its_value() -> None:
    short = "1:" + base64.b64encode(b"short").decode()
    with pytest.raises(KeyUnavailable) as caught:
        keys_from_env(["eu", "us", "in"], "RG_", {"RG_US": short, "RG_IN": "no-version"})
    message = str(caught.value)
    assert "RG_EU is not set" in message
    assert "RG_US: the key has 5 bytes" in message
    assert "RG_IN: expected" in message
    assert base64.b64encode(b"short").decode() not in message


def test_a_region_without_a_key_fails_closed() -> None:
    with pytest.raises(KeyUnavailable):
        development_keys(["eu"]).for_region("us")


def test_development_keys_are_marked_ephemeral_and_version_zero() -> None:
    ring = development_keys(["eu"])
    assert ring.ephemeral and ring.for_region("eu").version == 0
