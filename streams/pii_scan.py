"""Find emails, phone numbers and IP addresses by value anywhere in an exportable copy's bytes.

Fields known to be personal are transformed by path before this runs; this is the
safety net for the rest: free text, URL query strings, page titles, custom
properties, in orjson output or Snowplow enriched TSV lines.

It runs once per exported event, and most events carry no personal data, so the
work is split in two:

1. A gate: one `bytes.translate` into a "shape" string (each digit, hex letter,
   other letter and separator mapped to one class byte), one `find` for the
   class of `@`, `%` and `+`, and three regex passes whose patterns start with a
   literal (`1S` and `1.1` over the shape string, `:` over the bytes), so `re`
   skips ahead instead of trying every position. The gate over-approximates
   stage 2: it may send a clean event on, never stop one with personal data. (It
   costs ~3-4 µs on a 570-byte event; docs/performance.md has the figures.)
2. Precise patterns over the raw bytes, anchored where possible (emails at each
   `@`, international numbers at each `+`) and otherwise run only in windows
   around the gate's hits; then validation: `phonenumbers` for phone numbers,
   `inet_pton` for IPv6.

What counts (and why):

- Emails: `local@domain.tld`, also with `@` written `%40` or `%2540`. The TLD is
  2-24 letters, and asset suffixes (`png`, `jpg`, `svg`, `css`, `js`, ...) are not
  TLDs, so `logo@2x.png` and `bundle@1.2.3.min.js` are not emails. The value is
  percent-decoded but otherwise passed as found (case is the caller's business).
- Phone numbers, only as written for people: `+<country code> ...` (also `%2B` or
  a `00` prefix followed by separators) and national forms with separators, such
  as `(555) 123-4567`, `030 1234 5678`, `01 23 45 67 89`. Plain digit runs (order
  ids, epoch milliseconds) are never candidates; neither are dotted runs with a
  one-digit group (versions), nor date shapes (`2024-05-01`, `01.05.2024`). A
  candidate counts only when `phonenumbers.is_valid_number` accepts it, with no
  region for the international forms and against `phone_regions` for national
  ones. The value passed to `replace` is the number in E.164 (`+4930123456`), so
  one number written two ways gets one pseudonym.
- IPv4 dotted quads (octets 0-255, no leading zeros), not inside a longer dotted
  or digit run and not a `Product/1.2.3.4` version token. IPv6 that `inet_pton`
  accepts with at least three groups (or an embedded IPv4), so times like
  `13:45:12`, MAC-like and base64url text don't count. An address the gateway has
  already truncated (IPv4 `x.y.z.0`, IPv6 with nothing past its /48) is not
  personal, so re-scanning the gateway's own copy finds nothing in it.

Known gaps: internationalized (non-ASCII) emails; phone numbers separated by
no-break spaces or by `+` (form encoding); a phone number or IPv4 address directly
after a digit and a separator (`... 10.0.0.1 10.0.0.2` finds only the first: the
rule is what keeps `2026-11-28 12:00:00.000` timestamps out). Matches starting
right after a JSON escape such as `\\n` are found; after an escaped backslash
followed by a letter they lose that one letter.
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import unquote

import phonenumbers


class PiiKind(enum.Enum):
    EMAIL = "email"
    PHONE = "phone"
    IP = "ip"


_DEFAULT_PHONE_REGIONS = ("US", "GB", "FR", "IN", "ES", "NL", "BR", "IT", "DE")


class ValueScanner:
    """Replaces personal values found in serialized bytes. Built once; `scrub` is the hot path."""

    def __init__(
        self,
        replace: Callable[[PiiKind, str], str],
        *,
        phone_regions: Sequence[str] = _DEFAULT_PHONE_REGIONS,
    ) -> None:
        unknown = [region for region in phone_regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone_regions: {unknown!r} are not regions phonenumbers knows")
        self._replace = replace
        self._phone_regions = tuple(phone_regions)

    def scrub(self, data: bytes) -> tuple[bytes, dict[PiiKind, int]]:
        """`data` with every email, phone number and IP address replaced by `replace(kind, value)`.

        Returns the counts per kind too: an empty dict when nothing was found, and
        then `data` itself, the same object. `value` is percent-decoded; for phone
        numbers it is the E.164 form (`+442079460958`), whichever way the number
        was written. The replacement is inserted as returned (it must be ASCII and
        safe inside JSON strings and URLs) and is never scanned again.
        """
        shapes = data.translate(_SHAPE_CLASSES)
        marked = shapes.find(b"!") >= 0  # '@', '%' or '+'
        hits = _gate_hits(data, shapes)
        if not (marked or hits):
            return data, {}
        has_at = marked and b"@" in data
        has_percent = marked and b"%" in data
        has_plus = marked and b"+" in data
        found: list[tuple[int, int, int, PiiKind, str]] = []
        if has_at or has_percent:
            self._emails(data, found)
        if has_plus or has_percent:
            self._international_phones(data, found)
        # Percent-encoded separators (`%20`, `%3A`) are invisible to the gates: scan everything.
        everywhere = has_percent and any(code in data for code in (b"%20", b"%3A", b"%3a"))
        windows = [(0, len(data))] if everywhere else _windows(hits)
        for start, end in windows:
            self._ips(data, start, end, found)
            self._national_phones(data, start, end, found)
        if not found:
            return data, {}
        return self._rewritten(data, found)

    def _rewritten(
        self, data: bytes, found: list[tuple[int, int, int, PiiKind, str]]
    ) -> tuple[bytes, dict[PiiKind, int]]:
        found.sort()
        parts: list[bytes] = []
        counts: dict[PiiKind, int] = {}
        position = 0
        for start, _priority, end, kind, value in found:
            if start < position:  # overlaps a match already taken (higher priority or earlier)
                continue
            parts.append(data[position:start])
            parts.append(self._replace(kind, value).encode("ascii"))
            counts[kind] = counts.get(kind, 0) + 1
            position = end
        parts.append(data[position:])
        return b"".join(parts), counts

    @staticmethod
    def _emails(data: bytes, found: list[tuple[int, int, int, PiiKind, str]]) -> None:
        # Anchored at each '@' (or its encodings): the local part is matched backwards
        # from it, so no pattern is tried at every byte of the event.
        for at_sign in (b"@", b"%40", b"%2540"):
            at = data.find(at_sign)
            while at != -1:
                local = _EMAIL_LOCAL.search(data, max(0, at - 64), at)
                domain = _EMAIL_DOMAIN.match(data, at + len(at_sign)) if local else None
                if local and domain:
                    value = f"{_percent_decoded(local.group().decode())}@{domain.group().decode()}"
                    found.append((local.start(), 0, domain.end(), PiiKind.EMAIL, value))
                at = data.find(at_sign, at + 1)

    @staticmethod
    def _international_phones(data: bytes, found: list[tuple[int, int, int, PiiKind, str]]) -> None:
        for plus in (b"+", b"%2B", b"%2b"):
            at = data.find(plus)
            while at != -1:
                match = _INTERNATIONAL_PHONE.match(data, at)
                if match:
                    text = _percent_decoded(match.group().decode("ascii"))
                    e164 = _valid_phone("+" + text.lstrip("+ "), None)
                    if e164 is not None:
                        found.append((match.start(), 1, match.end(), PiiKind.PHONE, e164))
                at = data.find(plus, at + 1)

    @staticmethod
    def _ips(data: bytes, start: int, end: int, found: list[tuple[int, int, int, PiiKind, str]]) -> None:
        for match in _IPV4.finditer(data, start, end):
            text = match.group().decode("ascii")
            if not text.endswith(".0"):  # x.y.z.0: a network, or already truncated by the gateway
                found.append((match.start(), 3, match.end(), PiiKind.IP, text))
        for match in _IPV6.finditer(data, start, end):
            text = _percent_decoded(match.group().decode("ascii"))
            if _personal_ipv6(text):
                found.append((match.start(), 2, match.end(), PiiKind.IP, text))

    def _national_phones(
        self, data: bytes, start: int, end: int, found: list[tuple[int, int, int, PiiKind, str]]
    ) -> None:
        for match in _NATIONAL_PHONE.finditer(data, start, end):
            text = _percent_decoded(match.group().decode("ascii"))
            if not _looks_like_a_phone(text):
                continue
            if text.startswith("00"):
                e164 = _valid_phone("+" + text[2:].lstrip(" -./"), None)
            else:
                e164 = next(
                    (e for e in (_valid_phone(text, r) for r in self._phone_regions) if e is not None), None
                )
            if e164 is not None:
                found.append((match.start(), 4, match.end(), PiiKind.PHONE, e164))


def _gate_hits(data: bytes, shapes: bytes) -> list[int]:
    """Where the gates see a candidate (phone number, IP address): empty for most events."""
    hits: list[int] = []
    # A `search` loop rather than finditer: most events have no hit or one, and then a
    # single search is all the work.
    hit = _SPACED_GATE.search(shapes)
    while hit is not None:
        hits.append(hit.start() + 1)  # the gate starts a byte early, at the first group's last digit
        hit = _SPACED_GATE.search(shapes, hit.end())
    hit = _DOTTED_GATE.search(shapes)
    while hit is not None:
        end = hit.end()
        # An IPv4 hit ends at the last octet's first digit: `0` there means `x.y.z.0`, a network
        # or an address the gateway truncated, never sent on (the shape has one class for digits).
        if shapes[end - 2] != _DOT or data[end - 1] != _ZERO:
            hits.append(hit.start() + 1)
        hit = _DOTTED_GATE.search(shapes, end)
    hit = _IPV6_GATE.search(data)
    while hit is not None:
        hits.append(hit.start())
        hit = _IPV6_GATE.search(data, hit.end())
    return hits


def _windows(hits: list[int]) -> list[tuple[int, int]]:
    """Stretches of the event around the gates' hits, merged, for the precise patterns.

    A hit sits a few bytes into a candidate (after its first group, or anywhere in a
    compressed IPv6 address), so each window starts 48 bytes before and ends 80 after.
    Lookbehinds still see the bytes before a window's start.
    """
    windows: list[tuple[int, int]] = []
    for hit in sorted(hits):
        start, end = max(0, hit - 48), hit + 80
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _percent_decoded(text: str) -> str:
    # Twice at most: `%2540` is `%40` encoded once more.
    for _ in range(2):
        if "%" not in text:
            break
        text = unquote(text)
    return text


@lru_cache(maxsize=4096)  # validation costs ~100 µs; a person's number recurs across their events
def _valid_phone(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_SEPARATORS = re.compile(r"[ \-./()]+")
_DATE = re.compile(r"\d{4}[ \-./]\d{2}[ \-./]\d{2}|\d{2}[ \-./]\d{2}[ \-./]\d{4}")


def _looks_like_a_phone(text: str) -> bool:
    groups = [group for group in _SEPARATORS.split(text) if group]
    digits = sum(len(group) for group in groups)
    if not 8 <= digits <= 15 or _DATE.fullmatch(text):
        return False
    if "." in text:  # dotted numbers are dotted throughout: 555.123.4567, 01.23.45.67.89
        # Four groups of at most three digits is an IPv4 address's shape, found as an IP
        # (the most common dotted run in events, and ~100 µs of futile validation as a phone).
        if len(groups) == 4 and all(len(group) <= 3 for group in groups):
            return False
        return set(_SEPARATORS.findall(text)) == {"."} and len(groups) >= 3
    return True


def _personal_ipv6(text: str) -> bool:
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return False
    groups = [group for group in text.split(":") if group]
    if len(groups) < 3 and "." not in text:
        return False
    return any(packed[6:])  # nothing past the /48: already truncated


# --- the gate: a shape string, and patterns that start with a literal ---------------------------
#
# Shape classes: '1' digits, 'a' hex letters, 'z' other letters and '_', 'S' the separators
# of phone numbers (space - / ( )), '.' and ':' themselves, '\\' itself, '!' the marks
# '@', '%' and '+' (one `find` tells whether emails or international numbers are possible),
# '"' everything else. One class for all digits is what lets the gates start with a
# two- or three-byte literal ("1S", "1.1"): `re` scans for a literal prefix in a tight
# loop and enters the pattern only where the whole prefix occurs, a handful of times an
# event, where a one-byte prefix ('S', '.') occurs dozens of times and costs ~50-100 ns
# each. Dots and colons are apart so that the colons of JSON and of times never start
# the dotted gate; the exclusions (a group after a digit and a separator, a run into
# `:x`) still count a colon as a separator.


def _shape_classes() -> bytes:
    table = bytearray(b'"' * 256)
    for classes, members in (
        (b"1", b"0123456789"),
        (b"a", b"abcdefABCDEF"),
        (b"z", b"ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_"),
        (b"S", b" -/()"),
        (b".", b"."),
        (b":", b":"),
        (b"\\", b"\\"),
        (b"!", b"@%+"),
    ):
        for byte in members:
            table[byte] = classes[0]
    return bytes(table)


_SHAPE_CLASSES = _shape_classes()


def _first_group(tail: bytes, widths: range) -> bytes:
    """Lookbehinds: a group of `widths` digits, then `tail` (fixed width) up to here.

    The group must start where a value can: not after a letter, digit or backslash
    (but after a JSON escape such as \\n), and not after a digit and a separator,
    which is what keeps the time in `2026-11-28 12:00:00.000` and the inner
    groups of `120.0.6099.109` out.
    """
    alternatives = []
    for width in widths:
        group = rb"1{%d}%s" % (width, tail)
        alternatives.append(rb"(?<=%s)(?<![1az\\]%s)(?<!1[S.:]%s)" % (group, group, group))
        alternatives.append(rb"(?<=\\[az]%s)" % group)
    return rb"(?:%s)" % b"|".join(alternatives)


# Each gate consumes forward before any assertion: a lookaround costs ~30 ns, and
# the forward shapes (separator, digits) rule out nearly every prefix hit on their own.
def _spaced_gate() -> re.Pattern[bytes]:
    # National numbers with space, dash, slash or paren separators: groups after the
    # first of 2+ digits, not running on into a word or a time, and not a date. The
    # pattern starts at the first group's last digit, for the literal prefix "1S".
    rest = rb"(?=(?:1|S{1,2}11)1*+(?:S{1,2}1{2,}+)*+(?![1az]|[.:][1az]))"
    not_a_date = {4: rb"(?!S11(?!1|S{1,2}1))", 2: rb"(?!S1111(?!1|S{1,2}1))"}
    branches = []
    for separators in (1, 2):
        tail = b"S" * separators + rb"11"
        firsts = b"|".join(
            _first_group(tail, range(width, width + 1)) + not_a_date.get(width, b"") for width in range(1, 6)
        )
        branches.append(b"S" * (separators - 1) + rb"11" + rest + rb"(?:%s)" % firsts)
    return re.compile(rb"1S(?:%s)" % b"|".join(branches))


def _dotted_gate() -> re.Pattern[bytes]:
    # Starts at the first group's last digit ("1.1"), then branches on the second
    # group's width, so each hit tries a few literal-led branches, not a dozen.
    # Dotted phone numbers (three or more groups of 2+ digits) come before IPv4
    # addresses: an IPv4 hit whose last octet is 0 is dropped by the caller, and a
    # dotted number at the same place must still be a hit. Only real dots count
    # here: neither stage 2 pattern accepts a colon between the groups.
    by_second = []
    for second in (1, 2, 3, 4):
        options = []
        if second >= 2:
            tail = rb"\.1{%d}\.11" % second
            options.append(rb"11(?=1*+(?:\.1{2,}+)*+(?![1az]|[.:][1az]))" + _first_group(tail, range(2, 6)))
        if second <= 3:
            for third in (1, 2, 3):
                tail = rb"\.1{%d}\.1{%d}\.1" % (second, third)
                options.append(rb"1{%d}\.1" % third + _first_group(tail, range(1, 4)))
        by_second.append(b"1" * (second - 1) + rb"\.(?:%s)" % b"|".join(options))
    return re.compile(rb"1\.1(?:%s)" % b"|".join(by_second))


_SPACED_GATE = _spaced_gate()
_DOTTED_GATE = _dotted_gate()
_DOT, _ZERO = ord("."), ord("0")
# Over the raw bytes: any IPv6 address `inet_pton` accepts has '::' or at least six
# colons, so ':' followed by '::' or by five hex groups each ending in ':' (the literal
# ':' prefix keeps it a fast scan; stage 2 handles '%3A', which scans the whole event).
_IPV6_GATE = re.compile(rb":(?::|%s)" % (rb"[0-9A-Fa-f]{1,4}:" * 5))


# --- stage 2: precise patterns over the raw bytes --------------------------------------------------

_ESCAPED = rb"(?<=\\[nrtbf])"  # right after a JSON escape such as \n
_PERCENT_ESCAPED = rb"(?<=%[0-9A-Fa-f]{2})"  # right after %XX in a URL
_AFTER_DIGIT_AND_SEPARATOR = rb"(?<!\d[ \-./:()])"

_ASSET_SUFFIXES = rb"(?:png|jpe?g|gif|svg|webp|avif|ico|bmp|tiff?|css|js|mjs|map|json|html?|woff2?|ttf|eot)"
_EMAIL_LOCAL = re.compile(  # searched up to the '@' (endpos), so \Z is the '@'
    rb"(?:%(esc)s|%(pct)s|(?<![A-Za-z0-9._%%+\-\\]))(?:[A-Za-z0-9_+\-.]|%%2[BbDdEe]|%%5[Ff]){1,64}\Z"
    % {b"esc": _ESCAPED, b"pct": _PERCENT_ESCAPED}
)
_EMAIL_DOMAIN = re.compile(
    rb"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}"
    rb"(?!%(asset)s(?![A-Za-z0-9\-]))[A-Za-z]{2,24}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
    % {b"asset": _ASSET_SUFFIXES}
)

_PHONE_SEPARATOR = rb"(?:[ \-./]|%20)"
_INTERNATIONAL_PHONE = re.compile(
    rb"(?:%(esc)s|%(pct)s|(?<![A-Za-z0-9_\\]))"
    rb"(?:\+|%%2[Bb])(?:%(sep)s)?\(?[1-9]"
    rb"(?:\d|%(sep)s\(?\d|\(\d|\)%(sep)s?\d){5,20}+"
    rb"(?![\w]|[.\-/:][\w]|%%20\d)" % {b"esc": _ESCAPED, b"pct": _PERCENT_ESCAPED, b"sep": _PHONE_SEPARATOR}
)
_NATIONAL_PHONE = re.compile(
    rb"(?:%(esc)s|%(pct)s|(?<![\w.\-/+%%\\]))%(after)s"
    rb"(?:\(\d{1,5}\)%(sep)s?|\d{1,5}%(sep)s{1,2})\(?\d{2,8}\)?(?:%(sep)s{1,2}\(?\d{2,8}\)?){0,4}+"
    rb"(?![\w]|[.\-/:][\w]|%%20\d)"
    % {
        b"esc": _ESCAPED,
        b"pct": _PERCENT_ESCAPED,
        b"sep": _PHONE_SEPARATOR,
        b"after": _AFTER_DIGIT_AND_SEPARATOR,
    }
)
_OCTET = rb"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)"
_IPV4 = re.compile(
    rb"(?:%(esc)s|(?<![\w.\-]))(?<![A-Za-z0-9]/)%(after)s%(o)s(?:\.%(o)s){3}(?!\d|\.\d)"
    % {b"esc": _ESCAPED, b"o": _OCTET, b"after": _AFTER_DIGIT_AND_SEPARATOR}
)
_IPV6 = re.compile(
    rb"(?:%(esc)s|%(pct)s|(?<![\w:.\-%%]))"
    rb"(?:[0-9A-Fa-f]{0,4}(?::|%%3[Aa])){2,7}+(?:[0-9A-Fa-f]{1,4}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?"
    rb"(?![\w:.\-]|%%3[Aa])" % {b"esc": _ESCAPED, b"pct": _PERCENT_ESCAPED}
)
