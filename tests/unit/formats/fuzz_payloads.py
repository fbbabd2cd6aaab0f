"""Hypothesis strategies for the fuzz tests: valid collector payloads, mutated structure-aware, with canaries.

Seeds are real payloads (the collector SDKs' canary payloads and the demo's traffic
generator). A mutation works on the parsed document (drop a key, swap a type, plant a
canary, a huge number, deep nesting, a non-object) or on the bytes (truncate, invalid
UTF-8, stray tabs and line breaks), so the parsers see near-valid input, not just noise.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import strategies as st

from streams.devtools.traffic import TrafficGenerator, TrafficMix
from streams.formats.registry import FORMAT_NAMES
from streams.formats.snowplow_enriched import ENRICHED_FIELDS
from tests.collectors import canaries
from tests.collectors.canaries import canary_payloads, generic_canary

# Personal values that must never reach an error text, a dead-letter header or an audit record.
CANARY_VALUES = (
    canaries.EMAIL,
    canaries.PHONE,
    canaries.PHONE_E164,
    canaries.IP,
    "2a02:c7f:1234:5678::42",  # an IPv6 address, as ip fields and free text carry them
    f"mailto:{canaries.EMAIL}",
    canaries.URL,
    canaries.NOTE,
)
# What counts as leaked in error texts and headers: every canary form, hashed forms included.
LEAKED_FORMS = (*canaries.leaked_forms(), "2a02:c7f:1234:5678::42")
# The audit keeps collector event ids that look generated, so a user id or a single name planted
# there is out of reach of any rule; emails, phone numbers, IPs and hashes are not.
_ID_LIKE = {canaries.USER_ID, canaries.ANONYMOUS_ID, canaries.FIRST, canaries.LAST}
AUDIT_LEAKED_FORMS = tuple(form for form in LEAKED_FORMS if form.lower() not in {i.lower() for i in _ID_LIKE})
# Where formats keep the collector's event id, which the audit record may quote.
EVENT_ID_KEYS = ("messageId", "eid", "event_id")

FORMATS: tuple[str, ...] = FORMAT_NAMES  # every format the config can name


def _traffic_seeds() -> dict[str, list[bytes]]:
    """A few payloads of each kind the demo sends, grouped by the format the pipeline reads them as."""
    kinds = {
        "segment": TrafficMix(1, 1, 0, 0, 0, 0, 0, declared=0.3, upstream_country=0.3, malformed=0),
        "rudderstack": TrafficMix(0, 0, 1, 0, 0, 0, 0, declared=0.3, upstream_country=0.3, malformed=0),
        "snowplow": TrafficMix(0, 0, 0, 1, 0, 0, 0, malformed=0),
        "snowplow_get": TrafficMix(0, 0, 0, 0, 1, 0, 0, malformed=0),
        "snowplow_enriched_tsv": TrafficMix(0, 0, 0, 0, 0, 1, 0, malformed=0),
        "ga4": TrafficMix(0, 0, 0, 0, 0, 0, 1, declared=0.3, upstream_country=0.3, malformed=0),
    }
    return {name: list(TrafficGenerator(seed=11, mix=mix).payloads(6)) for name, mix in kinds.items()}


def _seeds() -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = {name: [] for name in FORMATS}
    for name, payload in canary_payloads():
        seeds[name].append(payload)
    for name, payloads in _traffic_seeds().items():
        seeds[name].extend(payloads)
    seeds["generic"].append(generic_canary())
    # The enriched JSON form has no generator of its own: the canary's, with a residency entity too.
    [enriched] = seeds["snowplow_enriched_json"]
    declared = orjson.loads(enriched)
    declared["contexts_io_residencygateway_residency_1"] = [{"residency": "us"}]
    seeds["snowplow_enriched_json"].append(orjson.dumps(declared))
    return seeds


SEEDS = _seeds()

# Raw JSON the parsed document can't hold: orjson writes these bytes as they are.
_RAW_VALUES = (
    b"1e400",  # infinite as a double
    b"-1e400",
    b"123456789012345678901234567890123456789",  # wider than 64 bits
    b"NaN",
    b"Infinity",
    b'"\\ud800"',  # a lone surrogate
    b'"\xff\xfe\xfd"',  # invalid UTF-8 inside a string
    b'"\xed\xa0\x80"',  # a UTF-8-encoded surrogate
    b"[" * 300 + b"]" * 300,  # deeper than orjson writes (255)
    b"[" * 1100 + b"]" * 1100,  # deeper than orjson reads (1024)
    b"{" + b'"a":{' * 600 + b"}" * 601,
)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(CANARY_VALUES)
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(CANARY_VALUES), children, max_size=4)
    ),
    max_leaves=12,
)
# Strings the formats read as signals, ids and encoded documents, and some that look like them.
_tricky_strings = st.sampled_from(
    (
        "",
        " ",
        "eu",
        "EU",
        "xx",
        "GB",
        "T1",
        "81.2.69.142",
        "10.0.0.1",
        "::1",
        "fe80::1%eth0",
        "999.1.1.1",
        "en-US",
        "zz-ZZ",
        "Europe/Berlin",
        "Not/AZone",
        "{",
        "[]",
        "null",
        '{"data": 5}',
        '{"schema": "x", "data": [1, {"schema": 5}]}',
        "eyJkYXRhIjogW119",  # base64 of {"data": []}
        "!!!not base64",
        "\x00\t\n\r",
        "\ud800",  # a lone surrogate orjson won't encode
        "x" * 5000,
    )
)
_values = json_values | _tricky_strings | st.sampled_from(CANARY_VALUES)


class _Raw:
    """Bytes spliced into the serialized document in place of a value."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _locations(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in the document, the root first."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_locations(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_locations(value, (*path, index)))
    return found


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    del _get(document, path[:-1])[path[-1]]
    return document


@st.composite
def _mutated_document(draw: st.DrawFn, document: Any) -> Any:
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_locations(document)))
        target = _get(document, path)
        op = draw(
            st.sampled_from(
                (
                    "drop",
                    "swap",
                    "canary",
                    "canary_id",
                    "raw",
                    "nest",
                    "add_key",
                    "empty",
                    "wrap",
                    "duplicate_item",
                )
            )
        )
        if op == "drop":
            document = _delete(document, path)
        elif op == "swap":
            document = _set(document, path, draw(_values))
        elif op == "canary":
            document = _set(document, path, draw(st.sampled_from(CANARY_VALUES)))
        elif op == "canary_id" and isinstance(target, dict):
            target[draw(st.sampled_from(EVENT_ID_KEYS))] = draw(st.sampled_from(AUDIT_LEAKED_FORMS))
        elif op == "raw":
            document = _set(document, path, _Raw(draw(st.sampled_from(_RAW_VALUES))))
        elif op == "nest":
            # Deeper than orjson writes (255) and than it reads (1024), spliced in as raw JSON.
            depth = draw(st.sampled_from((2, 50, 254, 400, 1100)))
            inner = b"null" if isinstance(target, _Raw) else _serialized(target)
            if draw(st.booleans()):
                nested = b"[" * depth + inner + b"]" * depth
            else:
                nested = b'{"n":' * depth + inner + b"}" * depth
            document = _set(document, path, _Raw(nested))
        elif op == "add_key" and isinstance(target, dict):
            keys = (*CANARY_VALUES, *EVENT_ID_KEYS, "batch", "data", "events", "type", "e", "tv")
            key = draw(st.sampled_from(keys))
            target[key] = draw(_values)
        elif op == "empty":
            document = _set(document, path, draw(st.sampled_from(({}, [], "", 0))))
        elif op == "wrap":
            document = _set(document, path, [target] if not isinstance(target, _Raw) else [])
        elif op == "duplicate_item" and isinstance(target, list) and target:
            target.extend(target[:1] * draw(st.integers(1, 30)))
    return document


def _serialized(document: Any) -> bytes:
    def raw(value: Any) -> Any:
        if isinstance(value, _Raw):
            return orjson.Fragment(value.raw)
        raise TypeError

    try:
        return orjson.dumps(document, default=raw)
    except orjson.JSONEncodeError:
        # Too deep, or a lone surrogate, for orjson to write: the stdlib writes those.
        import json

        return json.dumps(document, default=lambda v: None).encode("utf-8", "surrogatepass")


@st.composite
def _mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    op = draw(st.sampled_from(("truncate", "invalid_utf8", "splice", "flip", "none")))
    if op == "none" or not raw:
        return raw
    at = draw(st.integers(0, len(raw)))
    if op == "truncate":
        return raw[:at]
    if op == "invalid_utf8":
        return raw[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"))) + raw[at:]
    if op == "splice":
        inserted = draw(st.sampled_from((b"\t", b"\n", b"\r\n", b"\x00", b'"', b"{", b"]", b",")))
        return raw[:at] + inserted + raw[at:]
    index = min(at, len(raw) - 1)
    return raw[:index] + bytes([draw(st.integers(0, 255))]) + raw[index + 1 :]


@st.composite
def mutated_json_payload(draw: st.DrawFn, format_name: str) -> bytes:
    """A valid payload of a JSON format, mutated in its structure and then, maybe, in its bytes."""
    seed = orjson.loads(draw(st.sampled_from(SEEDS[format_name])))
    raw = _serialized(draw(_mutated_document(seed)))
    return draw(_mutated_bytes(raw)) if draw(st.booleans()) else raw


@st.composite
def mutated_tsv_payload(draw: st.DrawFn) -> bytes:
    """A valid enriched TSV line, mutated column by column and then, maybe, in its bytes."""
    line = draw(st.sampled_from(SEEDS["snowplow_enriched_tsv"])).decode("utf-8")
    columns = line.split("\t")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(columns) - 1))
        op = draw(st.sampled_from(("set", "canary", "clear", "drop", "insert", "json")))
        if op == "set":
            columns[at] = draw(_tricky_strings | st.text(max_size=20))
        elif op == "canary":
            columns[at] = draw(st.sampled_from(CANARY_VALUES))
        elif op == "clear":
            columns[at] = ""
        elif op == "drop":
            del columns[at]
        elif op == "insert":
            columns.insert(at, draw(st.sampled_from(CANARY_VALUES)))
        else:  # an entity column with a document of any shape
            column = draw(st.sampled_from(("contexts", "derived_contexts", "unstruct_event")))
            document = draw(json_values | st.just({"schema": "x", "data": [{"schema": 1}]}))
            columns[ENRICHED_FIELDS.index(column)] = _serialized(document).decode("utf-8", "replace")
    raw = "\t".join(columns).encode("utf-8", "surrogatepass")
    return draw(_mutated_bytes(raw)) if draw(st.booleans()) else raw


def mutated_payload(format_name: str) -> st.SearchStrategy[bytes]:
    if format_name == "snowplow_enriched_tsv":
        return mutated_tsv_payload()
    return mutated_json_payload(format_name)


# Any bytes at all, and JSON of any shape, with or without a top-level object.
arbitrary_payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_values.map(_serialized),
    st.sampled_from(_RAW_VALUES),
)
