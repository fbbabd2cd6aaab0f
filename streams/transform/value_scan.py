"""Find personal values in one kept string of an exported copy, after undoing what would hide them.

Exported copies keep only allowlisted fields, and every string they keep passes
`ValueScanner.clean`. It must not be fooled (a control character, an encoding or a
glued token in front of an email) nor stalled (a megabyte of `@`).

Normalization comes first; the text returned when something was replaced is this form.
In up to three rounds, each ending the loop when it changes nothing:

1. Percent-decoding (`%2540` and `%252540` are '@' after two and three rounds).
2. HTML character references (`&#64;`, `&#x40;`, `&commat;`), read as `html.unescape`
   reads them, in bounded time per reference (`_referenced` says how).
3. Only for non-ASCII text: NFKC (fullwidth `＠`, `１`, mathematical letters), after
   a space is put into every run of 30 characters that are neither word characters nor
   spaces (combining marks live there: NFKC's canonical reordering is quadratic in a
   run of marks, ~75 ms for 8,000); then format characters (Cf: zero-width, soft
   hyphen, bidi) and combining marks of the generic blocks (strikethrough, zalgo) are
   deleted, not spaced, because they are invisible: `jane\\u200b@x.example` is an email.

Then control characters (Cc), every Unicode space (Zs), line and paragraph separators
and backslash become a space; decimal digits of any script ASCII digits; dash
punctuation (Pd) and U+2212 '-'. Plain ASCII without `%`, `&`, controls or backslash
(most values) skips all of it.

What is found, and what `replace(kind, value)` is given:

- `email` (the address): a local part of any length of `[\\w.!#$%&'*+/=?^`{|}~-]`, '@',
  labels of word characters and hyphens, a TLD of 2+ letters that is not an asset
  suffix (`logo@2x.png`, `bundle@1.2.3.min.js` are not emails). The whole local-part
  run is replaced, except what precedes its last URL delimiter (`/ ? & = #`):
  `?email=jane@x.example` keeps `?email=` and passes `jane@x.example`.
- `phone` (E.164), when `phones.e164` accepts it: `+` or `00` then groups (with no
  region; if the whole run isn't a number, it without its last one or two groups);
  national numbers with separators and plain digit runs, 8-15 digits, in `country`
  and then `FALLBACK_REGIONS` (a digit run also as `+<digits>`). Not candidates:
  dates (`2024-05-01`, `01.05.2024`, `20240501`), a group before `:<digit>` (the time
  in `2026-11-28 12:00:00.000`), dotted runs with a one-digit group (versions), IPv4
  shapes, 10 or 13 digits starting with 1 (epoch seconds and milliseconds), digits
  chained into an identifier (`_`, or '-' or '.' next to a letter or digit:
  `ORD-20240501-8812`, `SKU-12345678`) or inside a run of 16+ hex characters (an
  ObjectId, a digest). Digit groups split by spaces are also tried one by one.
  Every `e164` call spends one of the budget's validations.
- `card` (as found): 13-19 digits starting 2-6, contiguous or in groups of 3+ split
  by single spaces or by single dashes, Luhn-valid; a card wins over a phone reading.
- `ip` (as found): IPv4 dotted quads, not `x.y.z.0` and not after a letter or
  `Product/`; IPv6 that `inet_pton` accepts with 3+ groups or an embedded IPv4 and
  something past its /48 (an address the gateway truncated is not personal).
- `digest` (as found): 32+ hex digits touching no other letter or digit.
- `encoded` (as found): a run of 16+ base64 or base64url characters with an upper-case
  letter, a lower-case letter and a digit (or, in a path or form field, a piece of one
  between '/' or '+') whose bytes are UTF-8 text in which anything is found, scanned
  one level deep; anything starting `eyJ` (encoded JSON: a JWT's
  `header.payload.signature` is one run). A run that decodes to 16, 20, 32 or 64 bytes
  of binary is a raw `digest`.
- The event's own values: found case-insensitively where not glued to other letters
  or digits, a name also word by word (words of 3+ letters); passed with their own
  kind and exactly the value given.

The gateway's own `pz:` pseudonyms and `tk:` tokens hold random base64; what lies
wholly inside one is left alone. Findings are taken earliest start first, then
longest, then own values, cards, emails, phones, IPs, digests, encoded runs; a
finding overlapping one taken is not replaced again, and the taken one's span grows
to cover whatever of it runs past, so nothing of it survives.

Time is linear in the value's length for any input: each pattern starts with a
literal or a character class and either guards its start with a lookbehind (a run is
tried once) or is bounded; quantifiers over runs are possessive; an email's local
part is read backwards through the reversed text. `loadtests/scan_worst_case.py`
measures it.
"""

from __future__ import annotations

import base64
import binascii
import html
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html.entities import html5
from typing import NamedTuple

import phonenumbers

from streams.transform.phones import FALLBACK_REGIONS, e164, is_region

Replace = Callable[[str, str], str]
"""(kind, value) -> replacement text: ASCII, inserted as is and never scanned again."""

OwnValue = tuple[str, str]
"""(kind, value as the event carries it); kinds: user_id, anonymous_id, email, phone, ip, name."""


@dataclass(slots=True)
class ScanBudget:
    """What one event copy may still spend on scanning; shared by all its values."""

    chars: int = 65_536  # characters it may still have scanned
    validations: int = 64  # phone validations (libphonenumber, ~30-100 µs each) it may still spend


class ValueScanner:
    """Replaces personal values in one string. Built once; `clean` is the hot path."""

    def __init__(self, *, max_value_chars: int = 8_192) -> None:
        if max_value_chars < 1:
            raise ValueError(f"max_value_chars must be positive (got {max_value_chars})")
        self._max_value_chars = max_value_chars
        # The caller passes one event's own values with each of its strings: keep the last
        # (one attribute, so a reader never pairs one event's values with another's needles).
        self._own: tuple[tuple[OwnValue, ...], _Own] = ((), _Own({}, {}))
        # Plain values in which nothing but this event's own values could be found, each lower-cased,
        # per country (a digit run may be a phone number in one country and not in another). Kept
        # values repeat across events (event names, library versions, page paths): a repeat costs a
        # dict lookup and a substring test per own value, not the detectors.
        self._clean: dict[str | None, dict[str, str]] = {}
        self._seen_once: set[str] = set()

    def clean(
        self,
        text: str,
        replace: Replace,
        own: Sequence[OwnValue] = (),
        budget: ScanBudget | None = None,
        country: str | None = None,
    ) -> tuple[str | None, dict[str, int]]:
        """`text` with every personal value replaced by `replace(kind, value)`, and the counts per kind.

        `(text, {})`, the same object, when nothing is found; `(None, {})` when the value is
        longer than `max_value_chars` or the budget can't cover it: the caller drops it.
        """
        size = len(text)
        if size > self._max_value_chars:
            return None, {}
        if budget is None:
            budget = ScanBudget()
        if budget.chars < size:
            return None, {}
        budget.chars -= size
        plain = (
            text.isascii()
            and text.isprintable()
            and "%" not in text
            and "&" not in text
            and "\\" not in text
            and "<" not in text
        )
        if plain:
            normalized = text  # the fast path, most values: what `_plain` says, inline
            lowered = self.remembered_clean(country).get(text)
            if lowered is not None and (
                not own or not any(map(lowered.__contains__, self._prepared(own).needles))
            ):
                return text, {}
            if _SPELLED_OUT.search(text) is not None:  # `jane (at) x (dot) example`: normalized below
                plain = False
        if not plain:
            normalized = _normalized(text)
            grown = len(normalized) - size  # NFKC can expand a character up to 18 times
            if grown > 0:
                if budget.chars < grown:
                    return None, {}
                budget.chars -= grown
        prepared = self._prepared(own) if own else None
        try:
            found = _find(normalized, prepared, budget, country, True)
        except _OutOfBudget:
            return None, {}
        if not found:
            # Not a value with a base64-looking run: what that decodes to is searched for the own
            # values, which its plain text doesn't show.
            if plain and len(text) <= _REMEMBERED_LENGTH and not _base64_candidate(text):
                # Remembered the second time it is seen: values seen once (event ids, session ids)
                # would otherwise fill the table and push out the ones that recur.
                seen = self._seen_once
                if text in seen:
                    remembered = self.remembered_clean(country)
                    if len(remembered) >= _REMEMBERED_VALUES:
                        remembered.clear()  # attacker-chosen values; correctness never depends on it
                    remembered[text] = text.lower()
                else:
                    if len(seen) >= _REMEMBERED_VALUES:
                        seen.clear()
                    seen.add(text)
            return text, {}
        if prepared is not None and prepared.aliases:
            found = [_aliased(finding, prepared.aliases) for finding in found]
        return _rewritten(normalized, found, replace)

    def remembered_clean(self, country: str | None) -> dict[str, str]:
        """Plain values already scanned for `country` with nothing found but own values, lower-cased.

        A caller that looks a value up here and finds none of the event's `needles` in it may keep
        the value as it is: `clean` with that country would return it unchanged.
        """
        remembered = self._clean.get(country)
        if remembered is None:
            if len(self._clean) >= _REMEMBERED_COUNTRIES:
                self._clean.clear()
            remembered = self._clean[country] = {}
        return remembered

    def needles(self, own: Sequence[OwnValue]) -> Collection[str]:
        """The event's own values as `clean` searches for them (lower-cased, names also word by word)."""
        return self._prepared(own).needles.keys() if own else ()

    def _prepared(self, own: Sequence[OwnValue]) -> _Own:
        key = own if isinstance(own, tuple) else tuple(own)
        last = self._own
        if key is last[0] or key == last[0]:
            return last[1]
        prepared = _own_values(key)
        self._own = (key, prepared)
        return prepared


_REMEMBERED_LENGTH = 256  # longer values rarely repeat
_REMEMBERED_VALUES = 16_384
_REMEMBERED_COUNTRIES = 300  # every ISO country and None, with room to spare


def _base64_candidate(text: str) -> bool:
    """Whether `text` may hold a base64 run worth decoding: 16+ characters of mixed case."""
    return len(text) >= 16 and text.lower() != text and text.upper() != text


class _OutOfBudget(Exception):
    """The event's budget ran out during a value: the value is dropped."""


class _Own(NamedTuple):  # made once per event: a named tuple costs a quarter of a frozen dataclass
    """One event's own values, prepared for the search."""

    needles: dict[str, OwnValue]  # what is searched for, lower-cased → (kind, value as given)
    # An email (lower-cased) or a phone number (E.164) found by value that is one of the
    # event's own is passed as given, so the caller gives it the field's pseudonym.
    aliases: dict[tuple[str, str], str]


_Finding = tuple[int, int, int, str, str]  # (start, -end, rank, kind, value): sorts into resolution order
# Ranks break ties between findings with the same start and end.
_OWN, _CARD, _EMAIL, _PHONE, _IP, _DIGEST, _ENCODED = range(7)


def _rewritten(text: str, found: list[_Finding], replace: Replace) -> tuple[str, dict[str, int]]:
    found.sort()
    parts: list[str] = []
    counts: dict[str, int] = {}
    position = 0
    index = 0
    while index < len(found):
        start, negative_end, _rank, kind, value = found[index]
        end = -negative_end
        index += 1
        # A finding that overlaps this one is not replaced again, but whatever of it runs
        # past this one's end is covered too, so none of it survives.
        while index < len(found) and found[index][0] < end:
            end = max(end, -found[index][1])
            index += 1
        parts.append(text[position:start])
        parts.append(replace(kind, value))
        counts[kind] = counts.get(kind, 0) + 1
        position = end
    parts.append(text[position:])
    return "".join(parts), counts


def _find(
    text: str, own: _Own | None, budget: ScanBudget, country: str | None, decode: bool
) -> list[_Finding]:
    """Every finding in normalized `text`. Each detector first takes a look that costs
    tens of nanoseconds (a substring test, a count), so a plain value costs little more."""
    found: list[_Finding] = []
    if "@" in text:
        _emails(text, found)
    size = len(text)
    # Everything but emails, IPv6 and JWTs needs digits (a 32-hex digest without one is a
    # 1 in 10^13 chance), and a lone UUID or ISO timestamp can hold nothing.
    if size >= 7 and _DIGIT.search(text) is not None and _PLAIN_SHAPE.fullmatch(text) is None:
        data = text.encode()
        digits = len(data) - len(data.translate(None, b"0123456789"))
        if digits >= 7 or (digits >= 4 and text.count(".") >= 3):
            _numbers(text, found, budget, _regions(country))
        if digits >= 13:
            _cards(text, found)
        if size >= 32 and len(data) - len(data.translate(None, _HEX_DIGITS)) >= 32:
            _digests(text, found)
        if decode and _base64_candidate(text):
            _base64(text, found, own, budget, country)
    if ":" in text and ("::" in text or text.count(":") >= 6):  # IPv6 with 3+ groups has '::' or 6+ ':'s
        _ipv6(text, found)
    if decode and "eyJ" in text:
        for match in _JWT.finditer(text):
            found.append((match.start(), -match.end(), _ENCODED, "encoded", match.group()))
    if own is not None:
        _own(text, found, own)
    if found and decode and ("pz:" in text or "tk:" in text):
        # The gateway's own pseudonyms and tokens (a copy scanned again) hold random base64,
        # which can read as a digest or hold a digit run; what lies wholly inside one stays.
        for output in _GATEWAY_OUTPUT.finditer(text):
            first, last = output.span()
            found = [f for f in found if not (first <= f[0] and -f[1] <= last)]
    return found


# --- emails -------------------------------------------------------------------------------------------


def _emails(text: str, found: list[_Finding]) -> None:
    reversed_text = ""
    for match in _EMAIL_AT.finditer(text):
        at = match.start()
        if not reversed_text:
            reversed_text = text[::-1]
        # The local part is read backwards from the '@': it has no length limit, and a
        # forward pattern would be tried at each of its characters.
        local = _LOCAL_RUN.match(reversed_text, len(text) - at)
        start = at - (local.end() - local.start() if local else 0)
        # A URL's structure before the address stays: `?email=` is not part of it.
        start = max(start, *(text.rfind(mark, start, at) + 1 for mark in "/?&=#"))
        while start < at and text[start] in "'`{}|":  # quotes around an address
            start += 1
        if start < at:
            found.append((start, -match.end(), _EMAIL, "email", text[start : match.end()]))


# --- phone numbers, cards, IPv4 -------------------------------------------------------------------------


def _numbers(text: str, found: list[_Finding], budget: ScanBudget, regions: tuple[str, ...]) -> None:
    # Digits inside a hex identifier (a digest, an ObjectId, a trace id) are no number, and
    # would spend the validation budget: a third of 32-hex digests hold an 8-digit run.
    hex_ids = [m.span() for m in _HEX_ID.finditer(text) if not m.group().isdigit()]
    hex_index = 0
    position = 0
    while (match := _NUMERIC.search(text, position)) is not None:
        start, end = match.span()
        position = end
        while hex_index < len(hex_ids) and hex_ids[hex_index][1] <= start:
            hex_index += 1
        if hex_index < len(hex_ids) and hex_ids[hex_index][0] <= start and end <= hex_ids[hex_index][1]:
            position = hex_ids[hex_index][1]
            continue
        # An IPv4 address is no phone number; digit groups beside it still may be.
        address = "." in match.group() and _ipv4(text, start, end, found)
        if text[start] == "(" and ")" not in text[start:end]:
            start += 1
        if end + 1 < len(text) and text[end] == ":" and text[end + 1].isdigit():  # a time, port or IPv6
            end = _last_group_dropped(text, start, end)
        if start >= 2 and text[start - 1] == ":" and text[start - 2].isdigit():
            start = _first_group_dropped(text, start, end)
        run = text[start:end]
        digits = run.encode().translate(None, b" ()./-+").decode()
        if len(digits) < 7:
            continue
        if address:
            pass
        elif _is_card(run, digits):
            found.append((start, -end, _CARD, "card", run))
            continue
        else:
            phone = _phone(text, run, digits, start, end, budget, regions)
            if phone is not None:
                found.append((start, -phone[1], _PHONE, "phone", phone[0]))
                continue
        if " " in run:
            # `2025550143 2025550144` is two numbers, which together are no number at all.
            for spaced in _SPACED_GROUP.finditer(text, start, end):
                group, group_start, group_end = spaced.group(), spaced.start(), spaced.end()
                if _is_card(group, group):
                    found.append((group_start, -group_end, _CARD, "card", group))
                else:
                    number = _digit_run(text, group, group_start, group_end, budget, regions)
                    if number is not None:
                        found.append((group_start, -group_end, _PHONE, "phone", number))


def _ipv4(text: str, start: int, end: int, found: list[_Finding]) -> bool:
    hit = False
    for match in _IPV4.finditer(text, start, end):
        hit = True
        address = match.group()
        if address.rpartition(".")[2].strip("0"):  # x.y.z.0: a network, or already truncated by the gateway
            found.append((match.start(), -match.end(), _IP, "ip", address))
    return hit


def _phone(
    text: str, run: str, digits: str, start: int, end: int, budget: ScanBudget, regions: tuple[str, ...]
) -> tuple[str, int] | None:
    """The run's number in E.164 and where it ends (an international number may end early)."""
    body = run.lstrip("(")
    if body.startswith("+"):
        return _international(text, start + run.index("+") + 1, end, budget)
    if body.startswith("00"):
        return _international(text, start + len(run) - len(body) + 2, end, budget)
    if len(digits) == len(run):
        number = _digit_run(text, run, start, end, budget, regions)
    elif _national_shape(text, run, len(digits), start, end):
        number = _national(run, budget, regions)
    else:
        return None
    return None if number is None else (number, end)


def _national_shape(text: str, run: str, digits: int, start: int, end: int) -> bool:
    if not 8 <= digits <= 15 or _chained(text, start, end) or _DATE.fullmatch(run):
        return False
    return "." not in run or _dotted_phone(run)


def _international(text: str, start: int, end: int, budget: ScanBudget) -> tuple[str, int] | None:
    # The country code makes the start certain, not the end: `+44 20 7946 0958 12` holds a
    # number followed by something else. The longest of the last three readings wins.
    ends: list[int] = []
    digits = 0
    for group in _DIGIT_GROUP.finditer(text, start, end):
        digits += group.end() - group.start()
        if digits > 17:  # E.164 has at most 15; a written trunk prefix `(0)` adds one
            break
        if digits >= 7:
            ends.append(group.end())
    for candidate_end in reversed(ends[-3:]):
        number = _valid("+" + text[start:candidate_end].lstrip(" ./-"), None, budget)
        if number is not None:
            return number, candidate_end
    return None


def _digit_run(
    text: str, run: str, start: int, end: int, budget: ScanBudget, regions: tuple[str, ...]
) -> str | None:
    if not 8 <= len(run) <= 15 or _chained(text, start, end):
        return None
    if len(run) == 8 and _COMPACT_DATE.fullmatch(run):
        return None
    if len(run) in (10, 13) and run.startswith("1"):  # epoch seconds / milliseconds, 2001-2033
        return None
    # Most runs of 8-15 digits validate as a number somewhere (order ids, SKUs), so a bare run is
    # read only where a phone number is likely: in the event's own country, with its country code
    # ("+" + run), or, starting with the trunk prefix 0 that order ids rarely have, anywhere we try.
    if run.startswith("0"):
        tried = regions
    elif regions is FALLBACK_REGIONS:  # no country: _regions gives the fallbacks alone
        tried = ()
    else:
        tried = regions[:1]
    return _national(run, budget, tried) or _valid("+" + run, None, budget)


def _national(text: str, budget: ScanBudget, regions: tuple[str, ...]) -> str | None:
    for region in regions:
        number = _valid(text, region, budget)
        if number is not None:
            return number
    return None


def _valid(text: str, region: str | None, budget: ScanBudget) -> str | None:
    if budget.validations <= 0:
        raise _OutOfBudget
    budget.validations -= 1  # cached answers count too: simpler, and the bound is what matters
    return e164(text, region)


def _last_group_dropped(text: str, start: int, end: int) -> int:
    cut = max(text.rfind(separator, start, end) for separator in " ./-()")
    end = max(cut, start)
    while end > start and not text[end - 1].isdigit():
        end -= 1
    return end


def _first_group_dropped(text: str, start: int, end: int) -> int:
    cuts = [i for i in (text.find(separator, start, end) for separator in " ./-()") if i != -1]
    start = min(cuts) if cuts else end
    while start < end and not text[start].isdigit() and text[start] not in "+(":
        start += 1
    return start


def _chained(text: str, start: int, end: int) -> bool:
    """Whether the digits at text[start:end] belong to an identifier: `ORD-2024…`, `…-blue-shoe`, `x_…`,
    or glued to a letter (`f970825-12`, `12345678abc`): a number is written for people apart."""
    if start > 0:
        before = text[start - 1]
        if (
            before == "_"
            or before == "."
            or before.isalpha()
            or (before == "-" and start > 1 and text[start - 2].isalnum())
        ):
            return True
    if end < len(text):
        after = text[end]
        if (
            after == "_"
            or after.isalpha()
            or (after in ".-" and end + 1 < len(text) and text[end + 1].isalnum())
        ):
            return True
    return False


def _dotted_phone(run: str) -> bool:
    # Dotted numbers are dotted throughout (555.123.4567, 01.23.45.67.89); a one-digit
    # group is a version (120.0.6099.109), four short groups an IPv4 address.
    groups = run.split(".")
    if len(groups) < 3 or not all(group.isdigit() and len(group) >= 2 for group in groups):
        return False
    return not (len(groups) == 4 and all(len(group) <= 3 for group in groups))


def _is_card(run: str, digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return False
    if len(run) != len(digits):
        groups = run.split(" " if " " in run else "-")
        if not all(len(group) >= 3 and group.isdigit() for group in groups):
            return False
    return _luhn(digits)


def _cards(text: str, found: list[_Finding]) -> None:
    # However a card number is written: groups split by dots, slashes, several spaces, or glued
    # to letters (`CC4111111111111111`), which no phone reading accepts. Luhn-valid 13-19 digits
    # are a card wherever they stand, as card scanners read them; a false alarm drops a value.
    for match in _CARD_RUN.finditer(text):
        run = match.group()
        digits = run.encode().translate(None, _NOT_DIGITS)
        if 13 <= len(digits) <= 19 and _luhn(digits.decode()):
            found.append((match.start(), -match.end(), _CARD, "card", run))


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = ord(digit) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@lru_cache(maxsize=256)
def _regions(country: str | None) -> tuple[str, ...]:
    if country is None or not is_region(country.upper()):
        return FALLBACK_REGIONS
    country = country.upper()
    return (country, *(region for region in FALLBACK_REGIONS if region != country))


# --- IPv6 ---------------------------------------------------------------------------------------------


def _ipv6(text: str, found: list[_Finding]) -> None:
    for match in _IPV6.finditer(text):
        address = match.group()
        if _personal_ipv6(address):
            found.append((match.start(), -match.end(), _IP, "ip", address))


def _personal_ipv6(text: str) -> bool:
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return False
    if len([group for group in text.split(":") if group]) < 3 and "." not in text:
        return False
    return any(packed[6:])  # nothing past the /48: already truncated


# --- hex digests and base64 -----------------------------------------------------------------------------


def _digests(text: str, found: list[_Finding]) -> None:
    for match in _HEX.finditer(text):
        found.append((match.start(), -match.end(), _DIGEST, "digest", match.group()))


def _base64(
    text: str, found: list[_Finding], own: _Own | None, budget: ScanBudget, country: str | None
) -> None:
    for match in _RUN.finditer(text):
        start = match.start()
        run = match.group()
        whole = _encoded(text, start, run, own, budget, country)
        if whole is not None and whole[2] == _ENCODED:
            found.append(whole)
            continue
        # A path or a form field around an encoded part: its pieces are the runs to read,
        # and a piece's finding beats the whole run read as a raw digest.
        pieces: list[_Finding] = []
        if "/" in run or "+" in run:
            position = start
            for piece in _PIECE_SEPARATORS.split(run):
                finding = _encoded(text, position, piece, own, budget, country)
                if finding is not None:
                    pieces.append(finding)
                position += len(piece) + 1
        if pieces:
            found.extend(pieces)
        elif whole is not None:
            found.append(whole)


def _encoded(
    text: str, start: int, run: str, own: _Own | None, budget: ScanBudget, country: str | None
) -> _Finding | None:
    """`run` as an `encoded` finding (text in which something is found), a raw `digest`, or None."""
    body = run.rstrip("=")
    if len(body) < 16 or body.startswith("eyJ") or not _mixed(body):  # eyJ: the JWT pass has it
        return None
    if ("-" in body or "_" in body) and ("+" in body or "/" in body):  # two alphabets: not one run
        return None
    if len(body) % 4 == 1:  # one character more than any byte count: read the rest
        body = body[:-1]
    try:
        raw = binascii.a2b_base64(body.translate(_URLSAFE_TO_STANDARD) + "=" * (-len(body) % 4))
    except binascii.Error:
        return None
    end = start + len(run)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        if len(raw) in (16, 20, 32, 64):
            return (start, -end, _DIGEST, "digest", run)
        return None
    _charge(budget, len(decoded))
    if not _plain(decoded):
        decoded = _normalized(decoded)
        _charge(budget, len(decoded))
    if _find(decoded, own, budget, country, False):
        return (start, -end, _ENCODED, "encoded", run)
    return None


def _mixed(body: str) -> bool:
    return body.lower() != body and body.upper() != body and _DIGIT.search(body) is not None


def _charge(budget: ScanBudget, chars: int) -> None:
    if budget.chars < chars:
        raise _OutOfBudget
    budget.chars -= chars


# --- the event's own values -----------------------------------------------------------------------------


def _own(text: str, found: list[_Finding], own: _Own) -> None:
    # `José Núñez` holds the trait `Jose Nunez`: accents are folded away on both sides (the
    # needles hold each value folded too), one character for one, so positions stay.
    lowered = text.lower() if text.isascii() else _lowered(text).translate(_ACCENTS_FOLDED)
    if not any(map(lowered.__contains__, own.needles)):  # the common case, looked at in C
        return
    size = len(text)
    for needle, (kind, value) in own.needles.items():
        at = lowered.find(needle)
        if at == -1:
            continue
        glued_start, glued_end = needle[0].isalnum(), needle[-1].isalnum()
        while at != -1:
            end = at + len(needle)
            if (glued_start and at > 0 and lowered[at - 1].isalnum()) or (
                glued_end and end < size and lowered[end].isalnum()
            ):
                # No match can start inside this run of letters and digits: skip past it,
                # so `aaaa…` searched for `aaa` stays linear.
                run = _ALNUM_RUN.match(lowered, at) if glued_start else None
                at = lowered.find(needle, run.end() if run else at + 1)
                continue
            found.append((at, -end, _OWN, kind, value))
            at = lowered.find(needle, end)


def _lowered(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # 'İ' lowers to two characters: keep positions aligned
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return lowered


class _AccentFold(dict[int, int]):
    """A `str.translate` table, filled as characters are met: a letter with marks to its base letter
    (`é` to `e`, `ñ` to `n`); a character that doesn't decompose to one letter and marks stays."""

    def __missing__(self, code: int) -> int:
        base = [c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c)]
        folded = ord(base[0]) if len(base) == 1 else code
        if len(self) < 65_536:  # attacker-chosen characters: bounded
            self[code] = folded
        return folded


_ACCENTS_FOLDED = _AccentFold()


def _own_values(own: tuple[OwnValue, ...]) -> _Own:
    # Once per event (its own values differ from the last event's); each value's needles are
    # worked out once per value, since a person's ids recur across their events.
    needles: dict[str, OwnValue] = {}
    aliases: dict[tuple[str, str], str] = {}
    for pair in own:
        texts, alias = _needles_of_value(*pair)
        for text in texts:
            if text not in needles:  # a text two values share stands for the first of them
                needles[text] = pair
        if alias is not None:
            aliases.setdefault(alias, pair[1])
    return _Own(needles, aliases)


@lru_cache(maxsize=65_536)
def _needles_of_value(kind: str, value: str) -> tuple[tuple[str, ...], tuple[str, str] | None]:
    """What one own value is searched for as (lower-cased), and the alias a finding by value takes."""
    normalized = value.lower().strip() if _plain(value) else _lowered(_normalized(value)).strip()
    texts = [normalized]
    if kind == "name":
        words = _NAME_WORD.findall(normalized)
        texts += words
        if len(words) > 1:
            texts.append("".join(words))  # glued in a handle or a slug: `JaneDoe`
    if len(value) >= 3:
        # The value as base64, unpadded, and as hex: an encoding of a known value is found by what
        # it is, whatever its length. Matched, like every needle, ignoring case; base64url differs
        # only in `-_` for `+/`.
        raw = value.strip().encode("utf-8", "surrogatepass")
        encoded = base64.b64encode(raw).decode().rstrip("=").lower()
        texts.append(encoded)
        if "+" in encoded or "/" in encoded:
            texts.append(encoded.replace("+", "-").replace("/", "_"))
        texts.append(raw.hex())
    if kind == "ip":
        texts += _address_spellings(normalized)
    if normalized.isascii():  # most values: nothing to fold (the encodings of any value are ASCII)
        found = [text for text in texts if len(text) >= 3]
    else:
        found = []
        for text in texts:
            # A slug or a login often drops accents: `josé` is also looked for as `jose`.
            folded = text if text.isascii() else _unaccented(text)
            found += [needle for needle in (text, folded) if len(needle) >= 3]
    alias: tuple[str, str] | None = None
    if kind == "email":
        alias = ("email", normalized)
        local = normalized.rpartition("@")[0]
        if len(local) >= 4:  # the address's person on their own: a handle, a login
            found.append(local)
    elif kind == "phone":
        number = next(filter(None, (e164(normalized, region) for region in (None, *FALLBACK_REGIONS))), None)
        if number is not None:
            alias = ("phone", number)
            # Written without its country code, as a number is inside its own country.
            national = _national_number(number)
            if len(national) >= 7:
                found.append(national)
    return tuple(dict.fromkeys(found)), alias


def _unaccented(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _address_spellings(text: str) -> list[str]:
    """An IP address as software also writes it: `81.2.69.142` as `1359103374`, `081.002.069.142`,
    `0x5102458e`; an IPv6 address in full (`2001:0db8:0000:…`) and compressed."""
    if _CANONICAL_IPV4.fullmatch(text) is not None:
        # The common case without the ipaddress module, which costs more than the rest together:
        # a new address on most events, and this is worked out for each.
        first, second, third, fourth = map(int, text.split("."))
        number = (first << 24) | (second << 16) | (third << 8) | fourth
        padded = f"{first:03d}.{second:03d}.{third:03d}.{fourth:03d}"
        return [str(number), padded, f"0x{number:08x}", f"{number:08x}"]
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return []  # not an address (and an IPv4 address ipaddress would read is canonical, above)
    return [address.exploded, address.compressed]


# A dotted quad as the ipaddress module reads one: no leading zeros, each octet at most 255.
_OCTET_CANONICAL = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET_CANONICAL}\.){{3}}{_OCTET_CANONICAL}")


@lru_cache(maxsize=4096)
def _national_number(e164_number: str) -> str:
    """`+442079460958` → `2079460958`: the number as written inside its own country, less the trunk 0."""
    return str(phonenumbers.parse(e164_number, None).national_number)


def _aliased(finding: _Finding, aliases: dict[tuple[str, str], str]) -> _Finding:
    start, negative_end, rank, kind, value = finding
    given = aliases.get((kind, value.lower() if kind == "email" else value))
    return finding if given is None else (start, negative_end, rank, kind, given)


# --- normalization ------------------------------------------------------------------------------------


def _plain(text: str) -> bool:
    """Whether normalization would leave `text` as it is: the fast path, most values."""
    return (
        text.isascii()
        and text.isprintable()
        and "%" not in text
        and "&" not in text
        and "\\" not in text
        and "<" not in text
    )


def _normalized(text: str) -> str:
    # Rounds, because each step can reveal work for another: `%EF%BC%A0` is a fullwidth '@'
    # only NFKC reads, `％40` a '%40' only NFKC reveals, `%\u200b40` an escape once the
    # zero-width space is gone. Every step is idempotent, so a round that changes nothing ends it.
    for _ in range(_ROUNDS):
        before = text
        if "\\" in text:  # JavaScript and JSON escapes written into text: `\u0040` is '@'
            text = _JS_ESCAPE.sub(_js_unescaped, text)
        if "%" in text:
            text = _PERCENT_ESCAPES.sub(_percent_decoded, text)
        if "<" in text:  # markup between the parts of a value: `+44 20 <b>7946</b> 0958`
            text = _MARKUP.sub("", text)
        if "&" in text:
            text = _REFERENCE.sub(_referenced, text)
        if not text.isascii():
            text = unicodedata.normalize("NFKC", _MARK_RUN.sub(_spaced_every_30, text))
            text = _DELETED.sub("", text)
        if text == before:
            break
    if _SPELLED_OUT.search(text) is not None:
        # An email spelled out for people: `jane (at) x (dot) example`, `jane [at] x`, `jane @ x`.
        text = _SPELLED_DOT.sub(".", _SPELLED_AT.sub("@", text))
    if text.isascii():
        return text.translate(_ASCII_SPACES)
    text = _OTHER_DIGIT.sub(_ascii_digit, text)
    text = _DASHES.sub("-", text)
    return _SPACES.sub(" ", text)


def _js_unescaped(match: re.Match[str]) -> str:
    character = chr(int(match.group(1), 16))
    return character if not 0xD800 <= ord(character) <= 0xDFFF else " "  # a lone surrogate: nothing


# Each round undoes one layer (percent-encoding, HTML references, escapes); past this many layers a
# value is odd enough that what is left of it is scanned as it is.
_ROUNDS = 6
_MARKUP = re.compile(r"<!--.{0,256}?-->|</?[A-Za-z][^<>]{0,64}>", re.DOTALL)
_JS_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")
_SPELLED_OUT = re.compile(r"[(\[{<]\s*(?:at|dot)\s*[)\]}>]|\s@\s", re.IGNORECASE)
_SPELLED_AT = re.compile(r"\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+@\s+", re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s*[(\[{<]\s*dot\s*[)\]}>]\s*", re.IGNORECASE)


def _percent_decoded(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group().replace("%", "")).decode("utf-8", "replace")


def _referenced(match: re.Match[str]) -> str:
    """An HTML character reference read as `html.unescape` reads it, for what the scan sees.

    Numeric references lose their leading zeros and are read only up to 7 digits
    (`html.unescape` calls `int()` on any number of them: it refuses over 4300 and is
    quadratic below); a name without ';' is tried only as long as the legacy names that
    may omit it (6 characters, where `html.unescape` tries up to 31 prefixes).
    """
    hexadecimal, decimal, name = match.groups()
    if name is None:
        digits = (hexadecimal or decimal).lstrip("0")
        code = int(digits or "0", 16 if hexadecimal else 10) if len(digits) <= 7 else 0x110000
        if 0x20 <= code < 0x7F or 0xA0 <= code < 0xD800 or 0xE000 <= code < 0xFDD0:
            return chr(code)
        # The rest as html.unescape reads it: controls dropped, C1 read as cp1252, U+FFFD past U+10FFFF.
        return html.unescape(f"&#{min(code, 0x110000)};")
    character = html5.get(name)
    if character is not None:
        return character
    for length in range(min(len(name) - 1, 6), 1, -1):
        character = html5.get(name[:length])
        if character is not None:
            return character + name[length:]
    return match.group()


def _spaced_every_30(match: re.Match[str]) -> str:
    run = match.group()
    return " ".join(run[i : i + 30] for i in range(0, len(run), 30))


def _ascii_digit(match: re.Match[str]) -> str:
    return str(unicodedata.decimal(match.group()))


# The Unicode classes below are compact range lists for Unicode 14 (Python 3.11);
# tests/unit/transform/test_value_scan.py checks them against unicodedata, so a new Python
# with new characters fails a test rather than scanning past them.
_CC = "\x00-\x1f\x7f-\x9f"
_CF = (
    "\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_SPACE_SEPARATORS = "\u0020\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # Zs, Zl, Zp
_DASH_PUNCTUATION = (  # Pd
    "\\-\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030\u30a0"
    "\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead"
)
# Combining marks used on any script (strikethrough, zalgo), and the grapheme joiner at U+034F.
_GENERIC_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

_ASCII_SPACES = {**{code: " " for code in (*range(0x20), 0x7F)}, ord("\\"): " "}
_MARK_RUN = re.compile(r"[^\w\s\x00-\x7f](?<![^\w\s\x00-\x7f].)[^\w\s\x00-\x7f]{30,}+", re.DOTALL)
_DELETED = re.compile(f"[{_CF}{_GENERIC_MARKS}]+")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_DASHES = re.compile(f"[{_DASH_PUNCTUATION}\u2212]")
_SPACES = re.compile(f"[{_CC}{_SPACE_SEPARATORS}\\\\]")

_PERCENT_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})++")
_REFERENCE = re.compile(r"&(?:#[xX]([0-9A-Fa-f]++);?|#([0-9]++);?|([A-Za-z][A-Za-z0-9]{1,31}+;?))")

# --- patterns -----------------------------------------------------------------------------------------

_LOCAL = r"\w.!#$%&'*+/=?^`{|}~\-"
_ASSET_SUFFIXES = r"png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|css|js|mjs|map|json|html?|woff2?|ttf|eot"
# Found at each '@' (a literal, so `re` skips ahead): a local-part character before it,
# then labels and a TLD. The labels are possessive and end at a dot, so backtracking
# only hands back whole labels, one at a time. A label that can't be a TLD ends the
# domain before it (`jane@x.example.0`), unless it is an asset suffix (`a@1.2.min.js`).
_EMAIL_AT = re.compile(
    rf"@(?<=[{_LOCAL}]@)(?:[\w-]++\.)+(?!(?i:{_ASSET_SUFFIXES})(?![^\W\d_]))[^\W\d_]{{2,}}+"
    rf"(?!\.(?i:{_ASSET_SUFFIXES})(?![^\W\d_]))"
)
_LOCAL_RUN = re.compile(rf"[{_LOCAL}]*+")

# A run of digits and phone separators, starting at a digit, '+' or '(' (a class, so `re`
# skips ahead to one). Every check before the run itself is bounded, so a start that
# fails costs a few characters of work.
_NUMERIC = re.compile(
    # Not inside a digit run, nor inside a dashed or dotted chain already tried from its start;
    r"[0-9+(](?<![0-9][0-9])(?<![0-9][-./][0-9])"
    # holding a digit right away;
    r"(?=(?<=[0-9])|[ +(]{0,2}[0-9])"
    # not a date, alone or before a time (ISO timestamps are common and never a number);
    r"(?!(?<=[0-9])(?:[0-9]{3}([-./])[0-9]{2}\1[0-9]{2}|[0-9]([-./])[0-9]{2}\2[0-9]{4})"
    r"(?![0-9]|[ ./-](?![0-9]{1,2}:)[0-9]))"
    # 7+ digits, or an IPv4 address's shape;
    r"(?=(?:[ ()./-]{0,2}[0-9]){6}|[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9])"
    # then digits, each separator followed by a digit. Possessive: a run is taken once.
    r"(?:[0-9]++|[ ./-](?=[0-9]|\([0-9])|\((?=[0-9])|\)[ ./-]?(?=[0-9]))*+"
)
_DIGIT_GROUP = re.compile(r"[0-9]+")
# Groups of 3+ digits, the first starting 2-6 (the card networks), split by up to three characters
# that are neither letters nor digits. Possessive, started only where no digit precedes: linear.
_CARD_RUN = re.compile(r"[2-6](?<![0-9][2-6])[0-9]{2,}+(?:[^0-9A-Za-z]{1,3}+[0-9]{3,}+)*+")
_NOT_DIGITS = bytes(code for code in range(256) if not 48 <= code <= 57)
# A group of 8-19 digits in a run, between spaces or the run's ends (which are no run characters).
_SPACED_GROUP = re.compile(r"[0-9](?<![0-9().\-/][0-9])[0-9]{7,18}+(?![0-9().\-/])")
_DATE = re.compile(r"[0-9]{4}([-./ ])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./ ])[0-9]{1,2}\2[0-9]{4}")
_COMPACT_DATE = re.compile(
    r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])(?:19|20)[0-9]{2}"
)
# Leading zeros allowed (`081.002.069.142`): inet_aton and many parsers read them, and a person does.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9.])(?<![^\W\d_])(?<![^\W_]/){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(
    r"(?<![\w:.\-])(?:[0-9A-Fa-f]{0,4}:){2,7}+(?:[0-9A-Fa-f]{1,4}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:.\-])"
)

_B64 = r"A-Za-z0-9+/_\-"
# A run of 16+ base64 characters with upper- and lower-case letters and a digit. Tried once,
# at its first character (the lookbehind); each lookahead stays inside the run, so costs at
# most its length; the first character, consumed already, is looked at behind.
_RUN = re.compile(
    rf"[{_B64}](?<![{_B64}].)(?=[{_B64}]{{15}})"
    rf"(?:(?<=[A-Z])|(?=[{_B64}]*?[A-Z]))(?:(?<=[a-z])|(?=[{_B64}]*?[a-z]))(?:(?<=[0-9])|(?=[{_B64}]*?[0-9]))"
    rf"[{_B64}]*+=*+",
    re.DOTALL,
)
_HEX_ID = re.compile(r"[0-9A-Fa-f](?<![0-9A-Fa-f].)[0-9A-Fa-f]{15,}+", re.DOTALL)
_PIECE_SEPARATORS = re.compile(r"[/+]")
_HEX = re.compile(r"[0-9A-Fa-f](?<![^\W_].)[0-9A-Fa-f]{31,}+(?![^\W_])", re.DOTALL)
_JWT = re.compile(rf"eyJ(?<![A-Za-z0-9_\-]eyJ)[{_B64}]{{13,}}+=*+(?:\.[{_B64}]*+=*+){{0,2}}+")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_DIGIT = re.compile(r"[0-9]")
_GATEWAY_OUTPUT = re.compile(  # streams/transform/pseudonymize.py and streams/subjects/tokens.py write these
    r"(?<![A-Za-z0-9_.\-])(?:pz:[A-Za-z0-9_.\-]{1,64}:[0-9]{1,9}:[A-Za-z0-9_\-]{43}"
    r"|tk:[A-Za-z0-9_.\-]{1,64}:[0-9a-f]{16}:[A-Za-z0-9_\-]{22,}+)(?![A-Za-z0-9_\-])"
)

_HEX_DIGITS = b"0123456789abcdefABCDEF"
# Whole values that are common and can hold nothing: a UUID, an ISO 8601 date or timestamp.
_PLAIN_SHAPE = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_ALNUM_RUN = re.compile(r"[^\W_]*")
_NAME_WORD = re.compile(r"[^\W\d_]{3,}")
