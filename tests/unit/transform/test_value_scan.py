"""The value scan: personal values found in one kept string however they are written, and nothing else."""

import base64
import hashlib
import re
import sys
import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.transform import value_scan
from streams.transform.value_scan import OwnValue, ScanBudget, ValueScanner

SEEN: list[tuple[str, str]] = []


def _replace(kind: str, value: str) -> str:
    SEEN.append((kind, value))
    return f"pz:eu:1:{kind}"


SCANNER = ValueScanner()


def _clean(
    text: str,
    own: tuple[OwnValue, ...] = (),
    country: str | None = None,
    scanner: ValueScanner = SCANNER,
) -> tuple[str | None, list[tuple[str, str]]]:
    SEEN.clear()
    out, counts = scanner.clean(text, _replace, own, ScanBudget(), country)
    assert sum(counts.values()) == len(SEEN)
    return out, list(SEEN)


# --- normalization: what hid values from the scan of serialized bytes ---------------------------------


def test_an_email_after_a_vertical_tab_is_found() -> None:
    assert _clean("\u000bjane@x.example") == (" pz:eu:1:email", [("email", "jane@x.example")])


@pytest.mark.parametrize("before", ["\u0000", "\u0007", "\\", "\u001b", "\u0085", "\u2028"])
def test_an_email_after_a_nul_or_bell_or_backslash_is_found(before: str) -> None:
    assert _clean(f"note{before}jane@x.example") == ("note pz:eu:1:email", [("email", "jane@x.example")])


@pytest.mark.parametrize("inside", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u202e"])
def test_an_email_with_an_invisible_format_character_inside_is_found(inside: str) -> None:
    # Format characters are deleted, not spaced: a space would end the local part at `jane`.
    assert _clean(f"jane{inside}@x.example")[1] == [("email", "jane@x.example")]
    assert _clean(f"ja{inside}ne@x.example")[1] == [("email", "jane@x.example")]


def test_an_email_in_strikethrough_or_zalgo_marks_is_found() -> None:
    assert _clean("j\u0336a\u0336n\u0336e\u0336@x.example")[1] == [("email", "jane@x.example")]
    assert _clean("jane\u0334\u0335\u0353@x.example")[1] == [("email", "jane@x.example")]


def test_an_email_after_a_70_character_token_is_replaced_whole() -> None:
    token = "ab12" * 17 + "cd"
    out, seen = _clean(f"ref={token}jane@x.example")
    assert out == "ref=pz:eu:1:email"
    assert seen == [("email", f"{token}jane@x.example")]


def test_fullwidth_email_is_found() -> None:
    assert _clean("ｊａｎｅ＠ｘ．ｅｘａｍｐｌｅ") == ("pz:eu:1:email", [("email", "jane@x.example")])


@pytest.mark.parametrize(
    "text",
    [
        "jane%40x.example",
        "jane%2540x.example",
        "jane%252540x.example",
        "jane&#64;x.example",
        "jane&#x40;x.example",
        "jane&commat;x.example",
        "jane&#0000000064;x.example",
        "jane%26%2364%3Bx.example",
        "%6a%61%6e%65%40%78%2e%65%78%61%6d%70%6c%65",
    ],
)
def test_percent_encoded_and_html_escaped_emails_are_found(text: str) -> None:
    assert _clean(text) == ("pz:eu:1:email", [("email", "jane@x.example")])


@pytest.mark.parametrize(
    "text",
    [
        "jane\uff0540x.example",  # a fullwidth '%': an escape only after NFKC
        "jane%EF%BC%A0x.example",  # an escaped fullwidth '@': an '@' only after NFKC
        "jane%\u200b40x.example",  # an escape once the zero-width space is gone
        "jane\uff06#64;x.example",  # a fullwidth '&'
    ],
)
def test_encodings_hidden_behind_unicode_forms_are_found(text: str) -> None:
    assert _clean(text) == ("pz:eu:1:email", [("email", "jane@x.example")])


def test_overlong_numeric_character_references_are_read_without_a_stall_or_an_error() -> None:
    # html.unescape calls int() on the digits: over 4300 of them it raises, below it is quadratic.
    zeros = "0" * 5000
    assert _clean(f"jane&#{zeros}64;x.example")[1] == [("email", "jane@x.example")]
    assert _clean(f"x &#{'9' * 6000}; y")[1] == []
    assert _clean(f"x &#x{'f' * 6000}; y")[1] == []


def test_a_long_run_of_combining_marks_is_normalized_in_linear_time() -> None:
    # NFKC's canonical reordering is quadratic in one run of marks: 100,000 took ~8 s.
    scanner = ValueScanner(max_value_chars=300_000)
    text = "a" + "\u0334\u0301" * 50_000 + " jane@x.example"
    started = time.perf_counter()
    out, counts = scanner.clean(text, _replace, budget=ScanBudget(chars=10**6))
    assert counts == {"email": 1} and out is not None and "jane" not in out
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "scrubbed", "value"),
    [
        ("jane@example.com", "pz:eu:1:email", "jane@example.com"),
        ("write to jane.doe+news@mail.example.co.uk today", "write to pz:eu:1:email today",
         "jane.doe+news@mail.example.co.uk"),
        ("https://shop.example/?email=jane%40example.com&ref=x", "https://shop.example/?email=pz:eu:1:email&ref=x",
         "jane@example.com"),
        ("JANE@EXAMPLE.COM", "pz:eu:1:email", "JANE@EXAMPLE.COM"),
        ("mailto:jane@example.com", "mailto:pz:eu:1:email", "jane@example.com"),
        ("line one\njane@example.com", "line one pz:eu:1:email", "jane@example.com"),
        ("'jane@example.com'", "'pz:eu:1:email'", "jane@example.com"),
        ("jane@example.com.", "pz:eu:1:email.", "jane@example.com"),
        ("o'brien@example.ie", "pz:eu:1:email", "o'brien@example.ie"),
        ("josé@bücher.example", "pz:eu:1:email", "josé@bücher.example"),
    ],
)  # fmt: skip
def test_emails_are_found_plain_in_urls_and_in_unicode(text: str, scrubbed: str, value: str) -> None:
    assert _clean(text) == (scrubbed, [("email", value)])


# --- phone numbers -----------------------------------------------------------------------------------


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
        ("+44 20 7946 0958 ext", "+442079460958"),
    ],
)
def test_phone_numbers_written_for_people_are_found_and_passed_as_e164(text: str, e164: str) -> None:
    out, seen = _clean(text)
    assert seen == [("phone", e164)]
    assert (
        out is not None
        and "pz:eu:1:phone" in out
        and not any(c.isdigit() for c in out.replace("pz:eu:1", ""))
    )


@pytest.mark.parametrize(
    "text",
    [
        "020\u00a07946\u00a00958",
        "020\u202f7946\u202f0958",
        "020\u30007946\u30000958",
        "202\u2013555\u20130143",
        "202\u2014555\u2212" + "0143",
        "+44\u00a020\u00a07946\u00a00958",
        "＋４４ ２０ ７９４６ ０９５８",
    ],
)
def test_a_phone_with_no_break_spaces_or_en_dashes_is_found(text: str) -> None:
    out, seen = _clean(text)
    assert [kind for kind, _ in seen] == ["phone"] and out == "pz:eu:1:phone"


def test_a_phone_in_arabic_indic_digits_is_found() -> None:
    assert _clean("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨") == ("pz:eu:1:phone", [("phone", "+442079460958")])


@pytest.mark.parametrize(
    ("text", "country", "e164"),
    [("2025550143", "US", "+12025550143"), ("call 02079460958 now", None, "+442079460958"),
     ("/users/442079460958/profile", None, "+442079460958"), ("tel:442079460958", None, "+442079460958")],
)  # fmt: skip
def test_a_plain_digit_run_that_is_a_valid_phone_is_found(text: str, country: str | None, e164: str) -> None:
    assert _clean(text, country=country)[1] == [("phone", e164)]


@pytest.mark.parametrize(
    ("text", "country"), [("ref 30901820", "GB"), ("/p/2024112812", None), ("88123456789", "US")]
)
def test_a_bare_digit_run_is_a_phone_only_where_one_is_likely(text: str, country: str | None) -> None:
    # Most runs of 8-15 digits are a valid number somewhere (order ids, SKUs): a bare run counts
    # in the event's own country, with its country code, or starting with the trunk prefix 0.
    assert _clean(text, country=country) == (text, [])
    assert _clean("ref 30901820", country="DE")[1] == [("phone", "+4930901820")]


def test_two_numbers_side_by_side_are_both_found() -> None:
    found = _clean("2025550143 2025550144", country="US")[1]
    assert found == [("phone", "+12025550143"), ("phone", "+12025550144")]


def test_national_numbers_are_read_in_the_events_country_first() -> None:
    # The fallback regions put the US first; an event from Germany reads `030…` as German.
    assert _clean("Ruf an: 030 1234 5678", country="DE")[1] == [("phone", "+493012345678")]
    assert _clean("0612345678", country="NL")[1] == [("phone", "+31612345678")]
    assert _clean("0612345678", country="FR")[1] == [("phone", "+33612345678")]
    assert _clean("0612345678", country="XX")[1] == [("phone", "+33612345678")]  # unknown: fallbacks only


def test_the_phone_validation_budget_drops_values_past_it() -> None:
    budget = ScanBudget(validations=3)
    # Found in the second region tried (US, then GB): two validations.
    assert SCANNER.clean("020 7946 0958", _replace, budget=budget)[1] == {"phone": 1}
    assert budget.validations == 1
    assert SCANNER.clean("020 7946 0958", _replace, budget=budget) == (None, {})
    assert budget.validations == 0
    # Values with nothing to validate still pass.
    assert SCANNER.clean("Order Completed", _replace, budget=budget) == ("Order Completed", {})


def test_every_validation_spends_the_budget_even_when_cached() -> None:
    for _ in range(2):
        budget = ScanBudget()
        SCANNER.clean("+44 20 7946 0958", _replace, budget=budget)
        assert budget.validations == 63


# --- IP addresses, cards, digests, encodings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scrubbed", "value"),
    [
        ("client 81.2.69.142 connected", "client pz:eu:1:ip connected", "81.2.69.142"),
        ("http://81.2.69.142:8080/x", "http://pz:eu:1:ip:8080/x", "81.2.69.142"),
        ("https://x.example/?ip=8.8.8.8&a=1", "https://x.example/?ip=pz:eu:1:ip&a=1", "8.8.8.8"),
        ("ip\u000b81.2.69.142", "ip pz:eu:1:ip", "81.2.69.142"),
        ("from 2a00:1450:4001:80b::200e", "from pz:eu:1:ip", "2a00:1450:4001:80b::200e"),
        ("http://[2a02:c7f:7c8e:d300:a1b2:c3d4:e5f6:1234]/", "http://[pz:eu:1:ip]/",
         "2a02:c7f:7c8e:d300:a1b2:c3d4:e5f6:1234"),
        ("mapped ::ffff:81.2.69.142", "mapped pz:eu:1:ip", "::ffff:81.2.69.142"),
        ("padded 081.002.069.142", "padded pz:eu:1:ip", "081.002.069.142"),
    ],
)  # fmt: skip
def test_ip_addresses_are_found_in_text_and_urls(text: str, scrubbed: str, value: str) -> None:
    assert _clean(text) == (scrubbed, [("ip", value)])


def test_addresses_side_by_side_are_all_found() -> None:
    assert _clean("10.0.0.1 10.0.0.2")[1] == [("ip", "10.0.0.1"), ("ip", "10.0.0.2")]


@pytest.mark.parametrize("number", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
                                    "3782 822463 10005", "5555555555554444", "6011000990139424"])  # fmt: skip
def test_a_luhn_valid_card_number_is_found_and_an_invalid_one_is_not(number: str) -> None:
    assert _clean(f"card {number} ok") == ("card pz:eu:1:card ok", [("card", number)])
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not any(kind == "card" for kind, _ in _clean(f"card {broken} ok")[1])


@pytest.mark.parametrize(
    "written",
    ["4111.1111.1111.1111", "4111/1111/1111/1111", "4111  1111  1111  1111", "4111 - 1111 - 1111 - 1111"],
)
def test_a_card_number_is_found_however_its_groups_are_separated(written: str) -> None:
    assert _clean(f"card {written} ok") == ("card pz:eu:1:card ok", [("card", written)])
    broken = written[:-1] + "2"
    assert not any(kind == "card" for kind, _ in _clean(f"card {broken} ok")[1])


def test_a_card_number_glued_to_letters_is_found() -> None:
    # Hex letters in front made it read as a hex identifier, whose digits are no number.
    assert _clean("CC4111111111111111") == ("CCpz:eu:1:card", [("card", "4111111111111111")])
    assert _clean("ref=card4111111111111111x")[1] == [("card", "4111111111111111")]


def test_a_card_number_wins_over_a_phone_reading_of_the_same_digits() -> None:
    # 4111111111111 (13 digits, Luhn-valid) would also read as a number somewhere.
    assert _clean("4222222222222")[1] == [("card", "4222222222222")]


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
def test_md5_sha1_sha256_hex_runs_are_digests(algorithm: str) -> None:
    digest = hashlib.new(algorithm, b"jane@x.example").hexdigest()
    assert _clean(f"h={digest}&x=1") == ("h=pz:eu:1:digest&x=1", [("digest", digest)])
    assert _clean(digest.upper())[1] == [("digest", digest.upper())]


def test_a_hex_run_touching_other_letters_is_not_a_digest() -> None:
    digest = hashlib.md5(b"x").hexdigest()  # noqa: S324  # a fixture, not a use
    assert _clean(f"z{digest}")[1] == [] and _clean(f"{digest}g")[1] == []


@pytest.mark.parametrize(
    "encode", [base64.b64encode, base64.urlsafe_b64encode, lambda b: base64.b64encode(b).rstrip(b"=")]
)
def test_base64_of_an_email_is_encoded(encode: object) -> None:
    assert callable(encode)
    run = encode(b"contact: jane.doe@x.example").decode()
    assert _clean(f"t={run}&u=1") == ("t=pz:eu:1:encoded&u=1", [("encoded", run)])
    short = base64.b64encode(b"jane@x.example").decode().rstrip("=")
    assert _clean(f"/verify/{short}") == ("/verify/pz:eu:1:encoded", [("encoded", short)])


def test_base64_of_an_own_value_is_encoded() -> None:
    run = base64.b64encode(b'{"uid":"u-88123"}').decode()
    out, seen = _clean(f"state={run}", own=(("user_id", "u-88123"),))
    assert out == "state=pz:eu:1:encoded" and seen == [("encoded", run)]


def test_base64_of_text_without_personal_data_stays() -> None:
    run = base64.b64encode(b"hello world, this is base64!").decode()
    assert SCANNER.clean(run, _replace) == (run, {})


@pytest.mark.parametrize("size", [16, 20, 32, 64])
def test_a_raw_digest_in_base64_is_a_digest(size: int) -> None:
    run = base64.urlsafe_b64encode(hashlib.sha512(b"jane@x.example").digest()[:size]).decode()
    assert _clean(f"h={run}")[1] == [("digest", run)]


def test_a_jwt_is_encoded() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"1234"}').rstrip(b"=").decode()
    jwt = f"{header}.{payload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    assert _clean(f"/cb/{jwt}?x=1") == ("/cb/pz:eu:1:encoded?x=1", [("encoded", jwt)])
    assert _clean(f"Bearer {header}")[1] == [("encoded", header)]


_PSEUDONYM_BODY = st.binary(min_size=32, max_size=32).map(
    lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
)
_TOKEN_BODY = st.binary(min_size=16, max_size=64).map(
    lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
)


@settings(max_examples=300)
@given(
    pseudonym=_PSEUDONYM_BODY,
    token=_TOKEN_BODY,
    region=st.sampled_from(["eu", "us", "de", "fa", "in"]),
    version=st.integers(1, 99),
)
def test_the_gateways_own_pseudonyms_and_tokens_are_never_mistaken_for_personal_data(
    pseudonym: str, token: str, region: str, version: int
) -> None:
    text = f"pz:{region}:{version}:{pseudonym} tk:{region}:0123456789abcdef:{token}"
    assert SCANNER.clean(text, _replace) == (text, {})


# --- the event's own values ----------------------------------------------------------------------------


def test_own_user_id_in_a_url_path_and_query_is_found() -> None:
    out, seen = _clean("/users/u-123/profile?ajs_uid=U-123&x=1", own=(("user_id", "u-123"),))
    assert out == "/users/pz:eu:1:user_id/profile?ajs_uid=pz:eu:1:user_id&x=1"
    assert seen == [("user_id", "u-123"), ("user_id", "u-123")]


def test_own_name_words_are_found_in_a_slug() -> None:
    out, seen = _clean("/team/zebulon-quackenbush/bio", own=(("name", "Zebulon Quackenbush"),))
    assert out == "/team/pz:eu:1:name-pz:eu:1:name/bio"
    assert seen == [("name", "Zebulon Quackenbush")] * 2


def test_own_names_are_found_without_their_accents() -> None:
    out, seen = _clean("/team/jose-nunez and José Núñez", own=(("name", "José Núñez"),))
    assert out == "/team/pz:eu:1:name-pz:eu:1:name and pz:eu:1:name"
    assert seen == [("name", "José Núñez")] * 3


def test_own_names_are_found_where_the_text_has_accents_the_value_lacks() -> None:
    out, seen = _clean("by José Núñez", own=(("name", "Jose Nunez"),))
    assert out == "by pz:eu:1:name" and seen == [("name", "Jose Nunez")]


def test_an_own_value_in_hex_is_found() -> None:
    out, seen = _clean("ref 6A6438383132 ok", own=(("user_id", "jd8812"),))
    assert out == "ref pz:eu:1:user_id ok" and seen == [("user_id", "jd8812")]


def test_an_own_ip_address_is_found_however_software_writes_it() -> None:
    # As a 32-bit integer, zero-padded, in hex: found as the event's own IP, whatever its shape.
    out, seen = _clean("n=1359103374 h=0x5102458e", own=(("ip", "81.2.69.142"),))
    assert out == "n=pz:eu:1:ip h=pz:eu:1:ip" and seen == [("ip", "81.2.69.142")] * 2
    out, seen = _clean("at 2001:0db8:0000:0000:0000:0000:0000:0001", own=(("ip", "2001:db8::1"),))
    assert out == "at pz:eu:1:ip" and seen == [("ip", "2001:db8::1")]


def test_an_own_phone_number_found_written_otherwise_is_passed_as_given() -> None:
    # Found by value (as E.164), and then recognized as the event's own: the field's pseudonym.
    out, seen = _clean("call 020 7946 0958 or +442079460958", own=(("phone", "+44 20 7946 0958"),))
    assert out == "call pz:eu:1:phone or pz:eu:1:phone"
    assert seen == [("phone", "+44 20 7946 0958")] * 2


def test_own_values_are_not_found_inside_longer_words_or_numbers() -> None:
    own = (("user_id", "u-123"), ("name", "Ann Lee"))
    assert SCANNER.clean("xu-1234 annual sleet", _replace, own) == ("xu-1234 annual sleet", {})


def test_own_values_are_passed_exactly_as_given_and_win_over_a_reading_by_value() -> None:
    own = (("email", "Jane@X.Example"), ("phone", "+44 20 7946 0958"))
    out, seen = _clean("jane@x.example or +44 20 7946 0958", own=own)
    assert out == "pz:eu:1:email or pz:eu:1:phone"
    assert seen == [("email", "Jane@X.Example"), ("phone", "+44 20 7946 0958")]


def test_own_values_shorter_than_three_characters_are_ignored() -> None:
    assert SCANNER.clean("a 42 b", _replace, (("user_id", "42"),)) == ("a 42 b", {})


def test_own_values_are_found_as_often_as_they_occur_however_they_repeat() -> None:
    text = "xxx-" * 1000 + "xxxx" * 1000
    out, counts = SCANNER.clean(text, _replace, (("user_id", "xxx"),), ScanBudget())
    assert counts == {"user_id": 1000} and out is not None


# --- overlaps, budgets, caps ---------------------------------------------------------------------------


def test_overlapping_findings_take_the_earliest_then_the_longest() -> None:
    # The own id starts inside the email's local part: the email starts first and wins.
    out, seen = _clean("u-123.jane@x.example", own=(("user_id", "jane"),))
    assert out == "pz:eu:1:email" and seen == [("email", "u-123.jane@x.example")]


def test_a_finding_that_overlaps_an_earlier_one_is_covered_by_it() -> None:
    # The phone number starts first and wins; the email glued to it (its local part
    # `0958jane`) is not replaced again, but none of it survives either.
    out, seen = _clean("+44 20 7946 0958jane@x.example!")
    assert out == "pz:eu:1:phone!" and seen == [("phone", "+442079460958")]


def test_every_occurrence_is_replaced_once_and_replacements_are_not_rescanned() -> None:
    out, counts = SCANNER.clean(
        "jane@example.com and joe@example.org, +44 20 7946 0958",
        lambda kind, value: "a@example.com" if kind == "email" else "+44 20 7946 0958",
    )
    assert counts == {"email": 2, "phone": 1}
    assert out == "a@example.com and a@example.com, +44 20 7946 0958"


def test_a_value_over_the_cap_is_dropped() -> None:
    scanner = ValueScanner(max_value_chars=100)
    budget = ScanBudget()
    assert scanner.clean("x" * 101, _replace, budget=budget) == (None, {})
    assert budget.chars == ScanBudget().chars  # nothing was scanned
    assert scanner.clean("x" * 100, _replace) == ("x" * 100, {})


def test_a_2mb_run_of_at_signs_is_dropped_not_scanned() -> None:
    started = time.perf_counter()
    assert SCANNER.clean("@" * 2_000_000, _replace) == (None, {})
    assert time.perf_counter() - started < 0.01


def test_the_character_budget_is_shared_by_an_events_values() -> None:
    budget = ScanBudget(chars=10)
    assert SCANNER.clean("abcdef", _replace, budget=budget) == ("abcdef", {})
    assert SCANNER.clean("abcdef", _replace, budget=budget) == (None, {})
    assert SCANNER.clean("abcd", _replace, budget=budget) == ("abcd", {})
    assert budget.chars == 0


def test_decoded_runs_are_charged_to_the_budget() -> None:
    run = base64.b64encode(b"a perfectly ordinary sentence, 1 of 2").decode()
    budget = ScanBudget(chars=len(run) + 10)
    assert SCANNER.clean(run, _replace, budget=budget) == (None, {})


def test_the_max_value_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"max_value_chars must be positive \(got 0\)"):
        ValueScanner(max_value_chars=0)


# --- what is not personal -----------------------------------------------------------------------------

NOT_PERSONAL = [
    "Order Completed",
    "Product Viewed",
    "SKU-12345678",
    "prod_8812",
    "ORD-20240501-8812",
    "1299.99",
    "1,299.99 EUR",
    "2024-05-01",
    "01.05.2024",
    "05/01/2024",
    "20240501",
    "2024-05-01T13:45:12.345Z",
    "2024-05-01T13:45:12+02:00",
    "2026-11-28 12:00:00.000",
    "13:45:12",
    "1700000000000",
    "1700000000",
    "/products/red-shoes-42",
    "/products/123-blue-shoe",
    "/products/123456789-blue-shoe",
    "/checkout/step-2?variant=L",
    "https://shop.example/products/123-blue-shoe?utm_source=newsletter&utm_medium=email",
    "4.1.0",
    "1.22.10-beta.3",
    "analytics-python",
    "analytics.js 2.11.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "1.2.3.4.5",
    "Product/1.2.3.4",
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
    "en-US",
    "zh-Hant-TW",
    "USD",
    "true",
    "Blue Suede Shoes",
    "Größe: 42 – Farbe: blau",
    "東京都渋谷区",
]


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_values_that_are_not_personal_come_back_as_the_same_object(text: str) -> None:
    out, counts = SCANNER.clean(text, _replace, (("user_id", "u-8812"), ("name", "Zebulon Quackenbush")))
    assert out is text and counts == {}


_PLAIN = st.text(
    st.characters(blacklist_characters="@%&+.:", blacklist_categories=("Cs",)), max_size=60
).filter(lambda s: sum(c.isdigit() for c in s) < 4)


@settings(max_examples=300)
@given(_PLAIN)
def test_text_without_any_mark_of_personal_data_comes_back_as_the_same_object(text: str) -> None:
    out, counts = SCANNER.clean(text, _replace)
    assert out is text and counts == {}


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_is_scanned_without_an_error(text: str) -> None:
    out, counts = SCANNER.clean(text, _replace)
    assert out is None or (out is text) == (not counts)


# --- a canary anywhere, surrounded by anything ---------------------------------------------------------

_SURROUNDINGS = st.text(
    st.sampled_from([chr(c) for c in (*range(0x20), 0x7F, 0x85)])  # controls
    | st.sampled_from(["\u00a0", "\u202f", "\u3000", "\u2007", "\u2028", " ", "\t"])  # spaces
    | st.sampled_from(["\u200b", "\u00ad", "\u2060", "\ufeff", "\u202e"])  # format characters
    | st.sampled_from(["-", "\u2010", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"])  # dashes
    | st.just("\\")
    | st.characters(whitelist_categories=("Lu", "Ll", "Lo")),
    min_size=1,
    max_size=4,
)
_CANARIES = {"jane.doe@example.com": "jane.doe", "+44 20 7946 0958": "79460958"}


@settings(max_examples=500)
@given(
    canary=st.sampled_from(sorted(_CANARIES)),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    left=_SURROUNDINGS,
    right=_SURROUNDINGS,
)
def test_a_canary_never_survives_whatever_surrounds_it(
    canary: str, before: str, after: str, left: str, right: str
) -> None:
    out, _counts = SCANNER.clean(before + left + canary + right + after, _replace)
    if out is not None:  # None: dropped, which is safe too
        secret = _CANARIES[canary]
        assert secret not in unicodedata.normalize("NFKC", out).lower()
        assert secret not in re.sub(r"\D", "", unicodedata.normalize("NFKC", out))


# --- the Unicode tables -----------------------------------------------------------------------------------


def test_the_unicode_classes_match_this_pythons_unicode_database() -> None:
    def members(cls: str) -> set[int]:
        pattern = re.compile(f"[{cls}]")
        return {c for c in range(sys.maxunicode + 1) if pattern.match(chr(c))}

    categories: dict[int, str] = {c: unicodedata.category(chr(c)) for c in range(sys.maxunicode + 1)}
    assert members(value_scan._CC) == {c for c, cat in categories.items() if cat == "Cc"}
    assert members(value_scan._CF) == {c for c, cat in categories.items() if cat == "Cf"}
    assert members(value_scan._SPACE_SEPARATORS) == {
        c for c, cat in categories.items() if cat in ("Zs", "Zl", "Zp")
    }
    assert members(value_scan._DASH_PUNCTUATION) == {c for c, cat in categories.items() if cat == "Pd"}
    # Combining marks are neither word characters nor spaces: the run cap before NFKC sees them all.
    marks = {c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}
    assert not {c for c in marks if re.match(r"[\w\s\x00-\x7f]", chr(c))}


@pytest.mark.parametrize("text", ["f970825-12", "sku12345678", "12345678abc"])
def test_digits_glued_to_a_letter_are_an_identifier_not_a_phone(text: str) -> None:
    # A number is written for people apart from letters; `f970825-12` (an event id) is not +97 08 25 12.
    assert _clean(text, country="GB") == (text, [])
