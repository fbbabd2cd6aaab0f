"""JSON read exactly as written, or refused with a reason: duplicate keys, integers past 64 bits, depth.

orjson reads fast but not exactly: of two members with one key it keeps the last, and
it reads an integer outside the 64-bit range as a float. The gateway would then decide
on one value and keep bytes that say another, or give two user ids one pseudonym.
`read_json` keeps orjson's speed for the common payload and settles the rare one
exactly with the standard library; `write_json` writes back what it reads.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson reads JSON nested 1024 levels deep but writes only 254: deeper is refused on reading.
MAX_WRITTEN_DEPTH = 254

# Why a document is refused, as predicates after its name ("payload", "snowplow co").
# None of them quotes the document: the reasons go to dead-letter topics outside its region.
INVALID = "is not valid JSON"
DUPLICATE_KEY = "holds a duplicate key in a JSON object"
TOO_DEEP = f"nests deeper than {MAX_WRITTEN_DEPTH} levels, more than can be written back as JSON"

# orjson's own range for integers; outside it, orjson reads a float and refuses to write an int.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
# An integer outside that range has 19 digits or more (-9223372036854775809, 18446744073709551616).
_LONG_DIGIT_RUN = b"0" * 19
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


class BigInt(int):
    """An integer outside orjson's 64-bit range, read from its literal digits; `write_json` writes them."""

    __slots__ = ()


class JsonRefused(Exception):
    """A document `read_json` refuses: `reason` is one of the predicates above, `detail` orjson's position."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def read_json(data: bytes | str) -> Any:
    """The document in `data`, with every member and every integer as written; raises JsonRefused.

    Valid means what orjson accepts (no NaN, no number that overflows to infinity, no
    lone surrogate), less duplicate keys and depth beyond MAX_WRITTEN_DEPTH.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: orjson refuses it in a str too
            raise JsonRefused(INVALID) from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if message.startswith("depth limit exceeded"):
            raise JsonRefused(TOO_DEEP) from None
        # orjson's message gives the position only (e.g. "unexpected character: line 1
        # column 5 (char 4)"), never the content, so it is safe to carry.
        raise JsonRefused(INVALID, message) from None
    try:
        written = orjson.dumps(document)
    except TypeError:  # the only thing orjson reads and can't write back is depth
        raise JsonRefused(TOO_DEEP) from None
    if written == data:
        # The common case: the payload is exactly what orjson writes. Written JSON never repeats
        # a key nor holds an integer orjson can't hold, so neither does the payload.
        return document
    # An integer orjson can't hold came back a float of 2**63 or more, which it writes as Python
    # does, in exponent form ("1.8446744073709552e+19"): no '+' written, no such integer. A '+'
    # (a phone number) costs a look at the payload's digits; a single byte is the fastest search.
    if b"+" in written and _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO):
        return _exactly(data)  # read every number again, exactly
    # Every member of an object has one ':' outside strings; orjson writes each ':' inside a
    # string as itself, however the payload escaped it. So a member orjson dropped (a repeated
    # key) leaves fewer ':' in what it writes than in the payload. Fewer for another reason
    # (text that only looks like an escape, "\\u003a") is a false alarm the exact read clears.
    colons = data.count(b":")
    if b"\\" in data:
        colons += data.count(b"\\u003a") + data.count(b"\\u003A")
    if written.count(b":") != colons:
        _exactly(data)
    return document


def write_json(value: Any) -> bytes:
    """`value` as JSON, a BigInt as its digits; raises TypeError, as orjson does, if nested too deep."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # Only now hand int subclasses to `_digits`: on the common path this option costs nothing at all.
        return orjson.dumps(value, default=_digits, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


def _digits(value: Any) -> Any:
    if isinstance(value, int):
        return orjson.Fragment(int.__repr__(value).encode("ascii"))
    # The option passes every subclass here; the others are written as orjson writes them without it.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _exactly(data: bytes) -> Any:
    """The standard library's reading, every key and integer kept; only for what orjson accepted."""
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique,
            parse_int=_integer,
            parse_float=_finite,
            parse_constant=_no_constant,
        )
    except RecursionError:  # deeper than this thread's stack allows, though orjson wrote it
        raise JsonRefused(TOO_DEEP) from None
    except json.JSONDecodeError:
        raise JsonRefused(INVALID) from None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise JsonRefused(DUPLICATE_KEY)
    return document


def _integer(literal: str) -> int:
    value = int(literal)
    return value if _INT_MIN <= value <= _INT_MAX else BigInt(value)


# orjson refused these before this reader is called; refusing them here too keeps the two
# readers' idea of valid JSON one and the same, whatever reaches this one.
def _finite(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise JsonRefused(INVALID)
    return value


def _no_constant(literal: str) -> Any:
    raise JsonRefused(INVALID)
