"""Reading JSON exactly: the fast checks agree with the standard library's exact reading, always."""

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.formats.exact_json import (
    DUPLICATE_KEY,
    INVALID,
    MAX_WRITTEN_DEPTH,
    TOO_DEEP,
    BigInt,
    JsonRefused,
    read_json,
    write_json,
)


class Duplicate(Exception):
    pass


def oracle(text: str) -> Any:
    """The standard library, exact by construction: every pair seen, every integer a Python int."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise Duplicate
        return dict(pairs)

    return json.loads(text, object_pairs_hook=unique)


def typed(value: Any) -> Any:
    """`value` with the type of every number kept, so that 1 and 1.0 (a lost integer) differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return ("int", int(value))
    return (type(value).__name__, value)


# Pieces that make strings hard: colons, backslashes, text that looks like the escape of a colon,
# quotes, control characters, non-ASCII and astral characters, long digit runs.
PIECES = [":", "\\", "u003a", "u003A", "\\u003a", '"', "\x00", "\n", "a", "é", "漢", "😀", "1234567890", " "]
# Few key texts, so that objects often repeat one, spelled differently or not.
KEYS = ["a", "b", ":", "a:b", "é", "u003a"]
SPACE = st.sampled_from(["", "", " ", "\n", "\t", "\r\n  "])


@st.composite
def json_string(draw: st.DrawFn, pieces: list[str]) -> str:
    # One way of writing per piece, so that a piece such as \u003a is often written out plainly.
    ways = st.sampled_from(["plain", "lower", "upper"])
    written = draw(st.lists(st.tuples(st.sampled_from(pieces), ways), max_size=6))
    out = ['"']
    for char, how in ((char, how) for piece, how in written for char in piece):
        code = ord(char)
        if how == "plain" and char not in '"\\' and code >= 0x20:
            out.append(char)
        elif how == "plain" and char in '"\\':
            out.append("\\" + char)
        else:
            if code > 0xFFFF:  # written as its UTF-16 surrogate pair
                high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
                escape = f"\\u{high:04x}\\u{low:04x}"
            else:
                escape = f"\\u{code:04x}"
            out.append(escape.upper().replace("\\U", "\\u") if how == "upper" else escape)
    out.append('"')
    return "".join(out)


SHORT_NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:E}"),
)
EDGES = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40, -(10**300)]
NUMBERS = st.one_of(
    SHORT_NUMBERS, st.integers(min_value=-(2**70), max_value=2**70).map(str), st.sampled_from(EDGES).map(str)
)


def members(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    member = st.tuples(SPACE, json_string(KEYS), SPACE, SPACE, children, SPACE)
    return st.lists(member, max_size=5).map(
        lambda pairs: "{" + ",".join(f"{a}{key}{b}:{c}{value}{d}" for a, key, b, c, value, d in pairs) + "}"
    )


def arrays(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(SPACE, children, SPACE), max_size=4).map(
        lambda items: "[" + ",".join(f"{a}{value}{b}" for a, value, b in items) + "]"
    )


def documents(numbers: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    scalars = st.one_of(st.sampled_from(["null", "true", "false"]), numbers, json_string(PIECES))
    return st.recursive(
        scalars, lambda children: st.one_of(members(children), arrays(children)), max_leaves=20
    )


DOCUMENTS = documents(NUMBERS)
# With no integer past 64 bits, the fast checks alone (not the exact reading) decide on repeated keys.
FAST_DOCUMENTS = documents(SHORT_NUMBERS)


def check_against_oracle(text: str) -> None:
    try:
        expected = oracle(text)
    except Duplicate:
        with pytest.raises(JsonRefused) as refused:
            read_json(text.encode())
        assert refused.value.reason == DUPLICATE_KEY
        return
    document = read_json(text.encode())
    assert typed(document) == typed(expected)
    # ...and what it writes back reads as the same document, every integer's digits kept.
    assert typed(oracle(write_json(document).decode())) == typed(expected)


@settings(max_examples=400, deadline=None)
@given(text=DOCUMENTS)
def test_reading_agrees_with_the_exact_standard_library_reading(text: str) -> None:
    check_against_oracle(text)


@settings(max_examples=400, deadline=None)
@given(text=FAST_DOCUMENTS)
def test_the_fast_checks_agree_with_the_exact_reading(text: str) -> None:
    check_against_oracle(text)
    # Compact text, as orjson and JavaScript write it, is what the fastest check settles alone.
    check_against_oracle(compact(text))


def compact(text: str) -> str:
    """The same JSON text without whitespace between tokens (strings are left as they are)."""
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char not in " \t\r\n":
            out.append(char)
    return "".join(out)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":1}',
        b'{"context":{"ip":"114.114.114.114"},"context":{"ip":"85.214.132.117"}}',
        b'{"x":{"y":[{"z":1,"w":{"k":"v","k":"v"}}]}}',
        b'{"a":1,"\\u0061":2}',  # one key, spelled two ways
        b'{"a": 1, "a": 2}',
        b'{"k":"\\u003a","b":1,"b":2}',  # an escaped colon offsets one dropped member
        b'{"n":18446744073709551617,"a":1,"a":2}',  # the exact reading finds it as well
        b'[{"a":[]},{"b":1,"b":{}}]',
    ],
)
def test_a_duplicate_key_anywhere_is_refused(raw: bytes) -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(raw)
    assert refused.value.reason == DUPLICATE_KEY and str(refused.value) == DUPLICATE_KEY


@pytest.mark.parametrize(
    "raw",
    [
        b'{"k":"\\\\u003a"}',  # an escaped backslash, then the text u003a: looks like a colon's escape
        b'{"k":"\\\\u003A","j":"\\u003a"}',
        b'{"a:b":"c:d","e":"\\u003a\\u003A"}',
        b'{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}',  # one key in many objects is no repeat
    ],
)
def test_text_that_only_looks_like_a_repeat_is_read_as_written(raw: bytes) -> None:
    assert read_json(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("literal", "exact_type"),
    [
        (str(2**64 - 1), int),
        (str(2**64), BigInt),
        (str(-(2**63)), int),
        (str(-(2**63) - 1), BigInt),
        ("123456789012345678901234567890", BigInt),
        ("9" * 308, BigInt),
    ],
)
def test_integers_keep_their_digits_whatever_their_size(literal: str, exact_type: type) -> None:
    raw = f'{{"id":{literal},"ids":[1,{literal}],"f":1.5}}'.encode()
    document = read_json(raw)
    assert type(document["id"]) is exact_type and str(document["id"]) == literal
    assert write_json(document) == raw


def test_a_bare_integer_past_64_bits_keeps_its_digits_too() -> None:
    assert str(read_json(b" 18446744073709551617 ")) == "18446744073709551617"
    assert write_json(read_json(b"[18446744073709551617]")) == b"[18446744073709551617]"


@settings(max_examples=500, deadline=None)
@given(
    value=st.one_of(
        st.integers(min_value=2**64, max_value=10**300),
        st.integers(min_value=-(10**300), max_value=-(2**63) - 1),
    )
)
def test_orjson_writes_the_float_an_integer_past_64_bits_becomes_with_a_plus(value: int) -> None:
    # The fast check relies on it: no '+' in what orjson writes, no integer it read as a float.
    assert b"+" in orjson.dumps(float(value))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n":12345678901234567890123,"x":NaN}',
        b'{"n":12345678901234567890123,"x":Infinity}',
        b'{"n":12345678901234567890123,"x":-Infinity}',
        b'{"n":12345678901234567890123,"x":1e400}',
        b'{"a":1,"a":2,"x":-1e400}',
        b'{"n":1' + b"0" * 400 + b"}",  # an integer no float holds: orjson calls it infinite
    ],
)
def test_numbers_json_does_not_have_are_refused_on_every_path(raw: bytes) -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(raw)
    assert refused.value.reason == INVALID


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_json_as_deep_as_the_writer_writes_is_read() -> None:
    assert write_json(read_json(nested(MAX_WRITTEN_DEPTH))) == nested(MAX_WRITTEN_DEPTH)


@pytest.mark.parametrize("depth", [MAX_WRITTEN_DEPTH + 1, 300, 1023, 1024, 1025, 100_000])
def test_json_deeper_than_the_writer_writes_is_refused_not_a_crash(depth: int) -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(nested(depth))
    assert refused.value.reason == TOO_DEEP
    assert TOO_DEEP.startswith(f"nests deeper than {MAX_WRITTEN_DEPTH} levels")


def test_a_stack_too_shallow_for_the_exact_reading_refuses_as_too_deep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 200 levels with an integer past 64 bits at the bottom, read recursively by the standard library
    # in a thread whose stack is nearly used up.
    raw = b"[" * 200 + b"18446744073709551617" + b"]" * 200
    assert write_json(read_json(raw)) == raw

    def no_stack_left(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(json, "loads", no_stack_left)
    with pytest.raises(JsonRefused) as refused:
        read_json(raw)
    assert refused.value.reason == TOO_DEEP


def test_invalid_json_is_refused_with_its_position_and_never_its_text() -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(b'{"email": "jane@example.com"')
    assert refused.value.reason == INVALID and "line 1" in refused.value.detail
    assert "jane" not in refused.value.detail


def test_documents_in_text_read_as_their_bytes_do() -> None:
    assert read_json('{"é":18446744073709551617}') == {"é": 18446744073709551617}
    with pytest.raises(JsonRefused):
        read_json('{"a":"\ud800"}')  # a lone surrogate


def test_writing_without_integers_past_64_bits_is_orjsons_own() -> None:
    document = {"s": "é:\\", "n": [1, -(2**63), 2**64 - 1, 1.5e300, None, True], "o": {}}
    assert write_json(document) == orjson.dumps(document)


def test_writing_keeps_other_subclasses_as_orjson_writes_them() -> None:
    class Label(str):
        def __str__(self) -> str:
            return "not this"

    class Record(dict):  # type: ignore[type-arg]
        pass

    document = {"label": Label("kept"), "record": Record(a=1), "ids": [BigInt(2**64)], "flag": True}
    assert (
        write_json(document) == b'{"label":"kept","record":{"a":1},"ids":[18446744073709551616],"flag":true}'
    )
