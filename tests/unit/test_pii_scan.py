"""The value scan: personal data found anywhere in an exportable copy's bytes, and nothing else."""

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.pii_scan import PiiKind, ValueScanner

SEEN: list[tuple[PiiKind, str]] = []


def _replace(kind: PiiKind, value: str) -> str:
    SEEN.append((kind, value))
    return f"pz:eu:1:{kind.value}"


SCANNER = ValueScanner(_replace)


def _scrub_value(text: str, scanner: ValueScanner = SCANNER) -> tuple[str, list[tuple[PiiKind, str]]]:
    SEEN.clear()
    out, counts = scanner.scrub(orjson.dumps({"properties": {"note": text}}))
    assert sum(counts.values()) == len(SEEN)
    return orjson.loads(out)["properties"]["note"], list(SEEN)


@pytest.mark.parametrize(
    ("text", "scrubbed", "value"),
    [
        ("jane@example.com", "pz:eu:1:email", "jane@example.com"),
        ("write to jane.doe+news@mail.example.co.uk today", "write to pz:eu:1:email today",
         "jane.doe+news@mail.example.co.uk"),
        ("https://shop.example/?email=jane%40example.com&ref=x", "https://shop.example/?email=pz:eu:1:email&ref=x",
         "jane@example.com"),
        ("https://x.example/?e=jane%2540example.com", "https://x.example/?e=pz:eu:1:email",
         "jane@example.com"),
        ("JANE@EXAMPLE.COM", "pz:eu:1:email", "JANE@EXAMPLE.COM"),
        ("mailto:jane@example.com", "mailto:pz:eu:1:email", "jane@example.com"),
        ("line one\njane@example.com", "line one\npz:eu:1:email", "jane@example.com"),
    ],
)  # fmt: skip
def test_emails_are_found_plain_in_urls_and_percent_encoded(text: str, scrubbed: str, value: str) -> None:
    assert _scrub_value(text) == (scrubbed, [(PiiKind.EMAIL, value)])


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("call +44 20 7946 0958\n", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("020 7946 0958", "+442079460958"),
        ("+49 30 12345678", "+493012345678"),
        ("0049 30 12345678", "+493012345678"),
        ("tel=%2B4915112345678", "+4915112345678"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("(202) 555-0143", "+12025550143"),
        ("202-555-0143", "+12025550143"),
        ("202.555.0143", "+12025550143"),
        ("+33 1 23 45 67 89", "+33123456789"),
        ("01 23 45 67 89", "+33123456789"),
        ("+91 98765 43210", "+919876543210"),
        ("98765 43210", "+919876543210"),
    ],
)
def test_phone_numbers_written_for_people_are_found_and_passed_as_e164(text: str, e164: str) -> None:
    scrubbed, seen = _scrub_value(text)
    assert seen == [(PiiKind.PHONE, e164)]
    assert "pz:eu:1:phone" in scrubbed and not any(ch.isdigit() for ch in scrubbed.replace("pz:eu:1", ""))


def test_national_numbers_are_read_in_the_configured_regions_in_order() -> None:
    # A national number means different things in different regions: the first that validates wins.
    german = ValueScanner(_replace, phone_regions=("DE",))
    assert _scrub_value("Ruf an: 030 1234 5678", german)[1] == [(PiiKind.PHONE, "+493012345678")]
    french = ValueScanner(_replace, phone_regions=("FR",))
    assert _scrub_value("(202) 555-0143", french)[1] == []
    assert _scrub_value("01 23 45 67 89", french)[1] == [(PiiKind.PHONE, "+33123456789")]


def test_unknown_phone_regions_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="'XX'"):
        ValueScanner(_replace, phone_regions=("DE", "XX"))


@pytest.mark.parametrize(
    ("text", "scrubbed", "value"),
    [
        ("client 81.2.69.142 connected", "client pz:eu:1:ip connected", "81.2.69.142"),
        ("http://81.2.69.142:8080/x", "http://pz:eu:1:ip:8080/x", "81.2.69.142"),
        ("https://x.example/?ip=8.8.8.8&a=1", "https://x.example/?ip=pz:eu:1:ip&a=1", "8.8.8.8"),
        ("from 2a00:1450:4001:80b::200e", "from pz:eu:1:ip", "2a00:1450:4001:80b::200e"),
        ("http://[2a02:c7f:7c8e:d300:a1b2:c3d4:e5f6:1234]/", "http://[pz:eu:1:ip]/",
         "2a02:c7f:7c8e:d300:a1b2:c3d4:e5f6:1234"),
        ("mapped ::ffff:81.2.69.142", "mapped pz:eu:1:ip", "::ffff:81.2.69.142"),
    ],
)  # fmt: skip
def test_ip_addresses_are_found_in_text_and_urls(text: str, scrubbed: str, value: str) -> None:
    assert _scrub_value(text) == (scrubbed, [(PiiKind.IP, value)])


NOT_PERSONAL = [
    "Order Completed",
    "SKU-12345678",
    "prod_8812",
    "ORD-20240501-8812",
    "1299.99",
    "1,299.99 EUR",
    "2024-05-01",
    "01.05.2024",
    "05/01/2024",
    "2024-05-01T13:45:12.345Z",
    "2026-11-28 12:00:00.000",
    "13:45:12",
    "1700000000000",
    "/products/red-shoes-42",
    "4.1.0",
    "1.22.10-beta.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "1.2.3.4.5",
    "6f1c2a7e-3b4d-4c8e-9a1f-2b3c4d5e6f70",
    "12345678-1234-5678-1234-567812345678",
    "#ff8800",
    "aGVsbG8gd29ybGQsIHRoaXMgaXMgYmFzZTY0IQ==",
    "logo@2x.png",
    "bundle@1.2.3.min.js",
    "@jane on social",
    "00:1a:2b:3c:4d:5e",
    "std::vector",
    "81.2.69.0",
    "2a00:1450:4001::",
    "+02:00",
    "version 10.0.19045.3803",
    "12 items, 3 left",
]


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_values_that_are_not_personal_stay_byte_identical(text: str) -> None:
    data = orjson.dumps({"properties": {"note": text, "n": 1299.99, "ts": 1700000000000}})
    out, counts = SCANNER.scrub(data)
    assert (out, counts) == (data, {}) and out is data


def test_a_snowplow_tsv_line_is_scanned_and_keeps_its_columns() -> None:
    line = "\t".join(["app", "web", "2026-11-28 12:00:00.000", "81.2.69.142", '{"email":"jane@example.com"}'])
    out, counts = SCANNER.scrub(line.encode())
    assert counts == {PiiKind.IP: 1, PiiKind.EMAIL: 1}
    assert out.decode().split("\t") == ["app", "web", "2026-11-28 12:00:00.000", "pz:eu:1:ip",
                                        '{"email":"pz:eu:1:email"}']  # fmt: skip


def test_every_occurrence_is_replaced_once_and_replacements_are_not_rescanned() -> None:
    scanner = ValueScanner(lambda kind, value: "a@example.com" if kind is PiiKind.EMAIL else "x")
    out, counts = scanner.scrub(b'{"a":"jane@example.com and joe@example.org","b":"+44 20 7946 0958"}')
    assert counts == {PiiKind.EMAIL: 2, PiiKind.PHONE: 1}
    assert orjson.loads(out) == {"a": "a@example.com and a@example.com", "b": "x"}


_B64 = st.binary(min_size=32, max_size=32).map(lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode())


@settings(max_examples=300)
@given(
    digests=st.lists(_B64, min_size=1, max_size=4),
    region=st.sampled_from(["eu", "us", "de", "fa", "in"]),
    version=st.integers(1, 99),
)
def test_the_gateways_own_pseudonyms_and_tokens_are_never_mistaken_for_personal_data(
    digests: list[str], region: str, version: int
) -> None:
    values = [f"pz:{region}:{version}:{d}" for d in digests] + [f"tk:{region}:{version}:{d}" for d in digests]
    data = orjson.dumps({"userId": values[0], "traits": values, "text": " ".join(values)})
    assert SCANNER.scrub(data) == (data, {})


# Text with none of the marks personal data needs here: no '@' or '%' (emails, encoded
# separators), no '+' (international numbers), no '.' or ':' (IP addresses), no digit
# run of 3+, and under 8 digits in all (a national number has 8+, even in 2-digit groups).
_PLAIN = st.text(
    st.characters(blacklist_characters="@%+.:", blacklist_categories=("Cs",)), max_size=40
).filter(lambda s: sum(c.isdigit() for c in s) < 8 and not any(s[i : i + 3].isdigit() for i in range(len(s))))
_PLAIN_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-99, 99) | _PLAIN,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_PLAIN, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_PLAIN_JSON)
def test_documents_without_any_mark_of_personal_data_come_back_as_the_same_object(document: object) -> None:
    data = orjson.dumps(document)
    out, counts = SCANNER.scrub(data)
    assert out is data and counts == {}


_PERSONAL = st.sampled_from(
    ["jane@example.com", "+44 20 7946 0958", "81.2.69.142", "2a00:1450:4001:80b::200e", "(202) 555-0143",
     "x%40example.com", "030 1234 5678"]
)  # fmt: skip
_ANY_TEXT = st.text(max_size=30)
_MIXED_JSON = st.recursive(
    st.none()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _ANY_TEXT
    | _PERSONAL
    | st.tuples(_ANY_TEXT, _PERSONAL, _ANY_TEXT).map("".join),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ANY_TEXT | _PERSONAL, inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300)
@given(_MIXED_JSON)
def test_scrubbed_json_is_always_valid_json(document: object) -> None:
    out, _counts = ValueScanner(lambda kind, value: f"pz:eu:1:{kind.value}-AbC_x").scrub(
        orjson.dumps(document)
    )
    orjson.loads(out)
