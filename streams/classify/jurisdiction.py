"""Decide an event's jurisdiction from its signals, in the policy's order, and say why.

Every enabled signal the event carries is read, and every field of each: the decision
records the evidence it ignored, and usable findings that point at different regions
are the policy's to settle (precedence, quarantine, or the strictest region). A signal
that is present but can't be read (a list where a string belongs, a non-ASCII code, a
declaration that names nothing) holds the event: the sender said something we don't
understand, and guessing around it is what fail-closed forbids. Honest "don't know"
answers (a private IP, a CDN's XX) are no signal, and the next signal decides.

Findings and decisions are interned: real traffic has few distinct (country, field)
combinations, so classifying an event is a handful of dict lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from streams.classify.geolocation import Geolocator, IpCountry, default_geolocator
from streams.classify.maxmind import MaxMindGeolocator
from streams.classify.weak_signals import country_of_locale, country_of_timezone
from streams.config.countries import KNOWN_COUNTRIES, country_named
from streams.formats.base import SIGNAL_NAMES, Signals, Unreadable

NO_SIGNAL = "none"
CONFLICT = "conflict"
# Why an undecided event is held: the first word of its reason, and a metric label.
HELD_UNREADABLE = "unreadable"  # a signal present that can't be read
HELD_NO_SIGNAL = "no-signal"
HELD_UNASSIGNED = "unassigned"  # a country no region of the policy holds
HELD_CONFLICT = "conflict"
ConflictPolicy = Literal["precedence", "quarantine", "strictest"]
_CACHE_LIMIT = 8192  # distinct values per signal; past it the cache restarts (attacker-chosen values)
_IP_PROBLEMS = {
    "not-public": "a private or reserved address",
    "unknown": "an address not in the geolocation data",
    "not-a-country": "an address that geolocates to a continent, not a country",
}
# What CDNs and geolocation databases send when they don't know the country: Cloudflare's XX
# (unknown) and T1 (Tor), MaxMind's legacy A1 (anonymous proxy), A2 (satellite) and O1 (other),
# and ZZ (ISO's user-assigned "unknown"). An honest "don't know" is no signal; any other code
# that isn't a country is something we don't understand.
NO_COUNTRY_MARKERS = frozenset({"XX", "T1", "A1", "A2", "O1", "ZZ"})
# An IP as the cache sees it: the geolocator's answer, "" (an empty field), or why it can't be read.
_IpToken = IpCountry | str | Unreadable


@dataclass(frozen=True, slots=True, eq=False)  # identity equality: findings are interned
class Finding:
    """What one field of one signal of one event says. `text` never holds the raw value."""

    signal: str
    country: str | None
    region: str | None
    usable: bool  # it names a country or a region, and may decide
    blocks: bool  # present but unreadable: it must hold the event
    text: str  # e.g. "ip: US -> us (context.ip)"

    @property
    def place(self) -> str | None:
        """What two findings must share to agree: the region, or for a country in none, the country."""
        return self.region if self.region is not None else self.country


@dataclass(frozen=True, slots=True)
class Decision:
    region: str | None  # None: undecidable, so the event is quarantined
    signal: str  # the signal that decided, or "none", or "conflict"
    reason: str  # one line a person reads in `explain` and in the rg-reason header
    country: str | None = None
    ignored: tuple[str, ...] = ()  # the other evidence, each as "<signal>: <what it said> (<field>)"
    # Why an undecided event is held, for metrics: unreadable, no-signal, unassigned or conflict
    # (its reason starts with it). None when decided.
    held_as: str | None = None
    # The decision's Kafka headers, encoded once per interned decision rather than per event.
    headers: tuple[tuple[str, bytes], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.headers:
            headers = [("rg-signal", self.signal.encode()), ("rg-reason", self.reason.encode())]
            if self.ignored:
                headers.append(("rg-ignored", "; ".join(self.ignored).encode()))
            object.__setattr__(self, "headers", tuple(headers))


def geolocator_for(database: str | None) -> Geolocator:
    """The policy's geolocator: a MaxMind-format database when one is configured, else the bundled data.

    Raises GeolocationDatabaseError (streams/classify/maxmind.py) when the database can't be read.
    """
    return default_geolocator() if database is None else MaxMindGeolocator(database)


class Jurisdictions:
    """The policy's regions and signal order, and the lookups that feed them; safe to share across threads."""

    def __init__(
        self,
        country_regions: dict[str, str],
        geolocator: Geolocator,
        signals: tuple[str, ...] = ("declared", "upstream_country", "ip"),
        on_conflict: ConflictPolicy = "quarantine",
        transfers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._country_regions = country_regions
        self._regions = frozenset(country_regions.values())
        self._geolocator = geolocator
        self._signals = signals
        self._on_conflict = on_conflict
        # Region → destination → field rules: how widely each region lets its events go.
        self._transfers = {name: dict(rules) for name, rules in (transfers or {}).items()}
        missing = sorted(self._regions - self._transfers.keys())
        if on_conflict == "strictest" and missing:
            raise ValueError(f"on_conflict strictest needs the transfers of every region; missing {missing}")
        interpreters: dict[str, Callable[[Any, str], Finding]] = {
            "declared": self._readable("declared", self._declared),
            "upstream_country": self._readable("upstream_country", self._upstream_country),
            "ip": self._ip,  # its own rules: an empty field is no signal, and the geolocator reads the text
            "locale": self._readable("locale", self._weak("locale", country_of_locale)),
            "timezone": self._readable("timezone", self._weak("timezone", country_of_timezone)),
        }
        # (slot in the Signals tuple, interpreter, its cache), in precedence order.
        self._readers: list[tuple[int, Callable[[Any, str], Finding], dict[object, Finding]]] = [
            (SIGNAL_NAMES.index(name), interpreters[name], {}) for name in signals
        ]
        self._ip_slot = SIGNAL_NAMES.index("ip")
        self._decisions: dict[tuple[Finding, ...], Decision] = {}

    def classify(self, signals: Signals) -> Decision:
        findings: list[Finding] = []
        ip_slot = self._ip_slot
        for slot, interpret, cache in self._readers:
            evidence = signals[slot]
            if not evidence:
                continue
            for item in evidence:
                # IPs are many and their answers few, so IP findings are interned on the
                # geolocator's answer (which it caches), not on the address.
                read: tuple[_IpToken, str] = (self._ip_token(item[0]), item[1]) if slot == ip_slot else item
                finding = cache.get(read)
                if finding is None:
                    finding = _remember(cache, read, interpret(*read))
                findings.append(finding)
        key = tuple(findings)
        decision = self._decisions.get(key)
        if decision is None:
            decision = _remember(self._decisions, key, self._decide(key))
        return decision

    def _ip_token(self, value: str | Unreadable) -> _IpToken:
        return self._geolocator.lookup(value) if isinstance(value, str) and value else value

    def _decide(self, findings: tuple[Finding, ...]) -> Decision:
        blocking = [f for f in findings if f.blocks]
        if blocking:
            detail = "; ".join(f.text for f in blocking)
            return _held(HELD_UNREADABLE, detail, blocking[0].signal, None, _others(findings, blocking))
        usable = [f for f in findings if f.usable]
        if not usable:
            if findings:
                detail = "; ".join(f.text for f in findings)
            else:
                detail = "the event carries none of " + ", ".join(self._signals)
            return _held(HELD_NO_SIGNAL, detail, NO_SIGNAL)
        if len({f.place for f in usable}) == 1:
            return _decided_by(usable[0], findings)
        if self._on_conflict == "precedence":
            # Precedence ranks signals, not two fields of one signal: two declarations (or two
            # CDN headers) that disagree have nothing to rank them by. IP fields are the
            # exception: their order is a precedence (RudderStack's context.ip, which the SDK
            # or the app set, before request_ip, the address that called its server).
            top = [f for f in usable if f.signal == usable[0].signal]
            if usable[0].signal != "ip" and len({f.place for f in top}) > 1:
                return _conflict(top, findings)
            return _decided_by(usable[0], findings)
        if self._on_conflict == "strictest":
            winner = self._strictest(usable)
            if winner is not None:
                reason = f"strictest: {winner.region}, of " + " vs ".join(f.text for f in usable)
                ignored = _others(findings, usable)
                return Decision(winner.region, winner.signal, reason, winner.country, ignored)
        return _conflict(usable, findings)

    def _strictest(self, usable: list[Finding]) -> Finding | None:
        """The finding of the region that lets events go least far, if one is at most as wide as all."""
        if any(f.region is None for f in usable):
            return None  # a country in no region: there is no rule to compare
        regions = list(dict.fromkeys(f.region for f in usable if f.region is not None))
        for candidate in regions:  # in precedence order, so equally narrow regions go by precedence
            if all(self._at_most_as_wide(candidate, other) for other in regions):
                return next(f for f in usable if f.region == candidate)
        return None

    def _at_most_as_wide(self, region: str, other: str) -> bool:
        # Every (destination, field rules) pair the region allows, the other allows too.
        return self._transfers[region].items() <= self._transfers[other].items()

    # Interpreters: one (value, field) pair in, one Finding out. Texts name the country, never the value.

    def _place(self, signal: str, country: str, field: str) -> Finding:
        region = self._country_regions.get(country)
        if region is None:
            return Finding(signal, country, None, True, False, f"{signal}: {country}, in no region ({field})")
        return Finding(signal, country, region, True, False, f"{signal}: {country} -> {region} ({field})")

    def _region(self, signal: str, region: str, field: str) -> Finding:
        return Finding(signal, None, region, True, False, f"{signal}: {region} ({field})")

    @staticmethod
    def _unusable(signal: str, problem: str, field: str, blocks: bool = False) -> Finding:
        return Finding(signal, None, None, False, blocks, f"{signal}: {problem} ({field})")

    def _readable(
        self, signal: str, interpret: Callable[[str, str], Finding]
    ) -> Callable[[Any, str], Finding]:
        """`interpret`, given only ASCII text with something in it; any other value holds the event."""

        def read(value: str | Unreadable, field: str) -> Finding:
            if isinstance(value, Unreadable):
                return self._unusable(signal, value.problem, field, blocks=True)
            if not value.isascii():
                # Codes are ASCII: upper-casing "ın" (dotless i) makes IN, which nobody declared.
                return self._unusable(signal, "a string with characters outside ASCII", field, blocks=True)
            text = value.strip()
            if not text:
                problem = "an empty string" if not value else "a string of only whitespace"
                return self._unusable(signal, problem, field, blocks=True)
            return interpret(text, field)

        return read

    def _declared(self, declared: str, field: str) -> Finding:
        if declared in self._regions:
            return self._region("declared", declared, field)
        if declared.upper() in KNOWN_COUNTRIES:
            return self._place("declared", declared.upper(), field)
        if declared.lower() in self._regions:  # "EU": region ids are read case-insensitively too
            return self._region("declared", declared.lower(), field)
        return self._unusable("declared", "neither a region nor an ISO 3166-1 country", field, blocks=True)

    def _upstream_country(self, value: str, field: str) -> Finding:
        country = value.upper()
        if country in KNOWN_COUNTRIES:
            return self._place("upstream_country", country, field)
        if country in NO_COUNTRY_MARKERS:
            return self._unusable("upstream_country", f"{country}, a marker for no country", field)
        named = country_named(value)  # the Segment spec writes context.location.country as a name
        if named is not None:
            return self._place("upstream_country", named, field)
        problem = "neither an ISO 3166-1 country, a country's name, nor a marker for none"
        return self._unusable("upstream_country", problem, field, blocks=True)

    def _ip(self, token: _IpToken, field: str) -> Finding:
        if isinstance(token, Unreadable):
            return self._unusable("ip", token.problem, field, blocks=True)
        if isinstance(token, str):  # only "" comes here: a collector that left the field empty
            return self._unusable("ip", "an empty string", field)
        if token.reason == "invalid":  # "1.2.3.4:80", "a, b": text we can't read as one address
            return self._unusable("ip", "not an IP address", field, blocks=True)
        if token.country is None:
            return self._unusable("ip", _IP_PROBLEMS[token.reason], field)
        return self._place("ip", token.country, field)

    def _weak(self, signal: str, country_of: Callable[[str], str | None]) -> Callable[[str, str], Finding]:
        def interpret(value: str, field: str) -> Finding:
            country = country_of(value)
            if country is None:
                return self._unusable(signal, "names no country", field)
            return self._place(signal, country, field)

        return interpret


def _decided_by(decider: Finding, findings: tuple[Finding, ...]) -> Decision:
    ignored = tuple(f.text for f in findings if f is not decider)
    if decider.region is None:
        return _held(HELD_UNASSIGNED, decider.text, decider.signal, decider.country, ignored)
    return Decision(decider.region, decider.signal, decider.text, decider.country, ignored)


def _conflict(conflicting: list[Finding], findings: tuple[Finding, ...]) -> Decision:
    detail = " vs ".join(f.text for f in conflicting)
    return _held(HELD_CONFLICT, detail, CONFLICT, conflicting[0].country, _others(findings, conflicting))


def _held(
    why: str, detail: str, signal: str, country: str | None = None, ignored: tuple[str, ...] = ()
) -> Decision:
    """An undecided event's decision: quarantined, its reason `<why>: <detail>`."""
    return Decision(None, signal, f"{why}: {detail}", country, ignored, held_as=why)


def _others(findings: tuple[Finding, ...], named: list[Finding]) -> tuple[str, ...]:
    return tuple(f.text for f in findings if f not in named)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value
