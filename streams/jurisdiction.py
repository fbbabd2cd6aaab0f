"""Decide an event's jurisdiction from its signals, in the policy's order, and say why.

Every enabled signal the event carries is read, not only the first: the decision
records the evidence it ignored, and a conflict between signals is the policy's to
settle (precedence, or quarantine). Anything that can't be read as a place is no
signal, except an explicit residency declaration that can't be read: the app said
something we don't understand, so the event is held rather than guessed.

Findings and decisions are interned: real traffic has few distinct (country, field)
combinations, so classifying an event is a handful of dict lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from streams.countries import KNOWN_COUNTRIES
from streams.formats.base import SIGNAL_NAMES, Evidence, Signals
from streams.geolocation import Geolocator, IpCountry
from streams.weak_signals import country_of_locale, country_of_timezone

NO_SIGNAL = "none"
CONFLICT = "conflict"
_CACHE_LIMIT = 8192  # distinct values per signal; past it the cache restarts (attacker-chosen values)
_IP_PROBLEMS = {
    "invalid": "not an IP address",
    "not-public": "a private or reserved address",
    "unknown": "an address not in the geolocation data",
    "not-a-country": "an address that geolocates to a continent, not a country",
}


@dataclass(frozen=True, slots=True, eq=False)  # identity equality: findings are interned
class Finding:
    """What one signal of one event says. `text` never holds the raw value of an IP."""

    signal: str
    country: str | None
    region: str | None
    usable: bool  # it names a country or a region
    blocks: bool  # unusable in a way that must hold the event
    text: str  # e.g. "ip: US -> us (context.ip)"


@dataclass(frozen=True, slots=True)
class Decision:
    region: str | None  # None: undecidable, so the event is quarantined
    signal: str  # the signal that decided, or "none", or "conflict"
    reason: str  # one line a person reads in `explain` and in the rg-reason header
    country: str | None = None
    ignored: tuple[str, ...] = ()  # the other evidence, each as "<signal>: <what it said> (<field>)"
    # The decision's Kafka headers, encoded once per interned decision rather than per event.
    headers: tuple[tuple[str, bytes], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.headers:
            headers = [("rg-signal", self.signal.encode()), ("rg-reason", self.reason.encode())]
            if self.ignored:
                headers.append(("rg-ignored", "; ".join(self.ignored).encode()))
            object.__setattr__(self, "headers", tuple(headers))


class Jurisdictions:
    """The policy's regions and signal order, and the lookups that feed them; safe to share across threads."""

    def __init__(
        self,
        country_regions: dict[str, str],
        geolocator: Geolocator,
        signals: tuple[str, ...] = ("declared", "upstream_country", "ip"),
        quarantine_conflicts: bool = False,
    ) -> None:
        self._country_regions = country_regions
        self._regions = frozenset(country_regions.values())
        self._geolocator = geolocator
        self._signals = signals
        self._quarantine_conflicts = quarantine_conflicts
        interpreters: dict[str, Callable[[str, str], Finding]] = {
            "declared": self._declared,
            "upstream_country": self._upstream_country,
            "ip": self._ip,
            "locale": self._weak("locale", country_of_locale),
            "timezone": self._weak("timezone", country_of_timezone),
        }
        # (slot in the Signals tuple, interpreter, its cache), in precedence order.
        self._readers: list[tuple[int, Callable[[str, str], Finding], dict[object, Finding]]] = [
            (SIGNAL_NAMES.index(name), interpreters[name], {}) for name in signals
        ]
        self._ip_slot = SIGNAL_NAMES.index("ip")
        self._decisions: dict[tuple[Finding, ...], Decision] = {}

    def classify(self, signals: Signals) -> Decision:
        findings = []
        for slot, interpret, cache in self._readers:
            evidence = signals[slot]
            if evidence is None:
                continue
            key = self._cache_key(slot, evidence)
            finding = cache.get(key)
            if finding is None:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                finding = cache[key] = interpret(*evidence)
            findings.append(finding)
        key_findings = tuple(findings)
        decision = self._decisions.get(key_findings)
        if decision is None:
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            decision = self._decisions[key_findings] = self._decide(key_findings)
        return decision

    def _cache_key(self, slot: int, evidence: Evidence) -> object:
        if slot == self._ip_slot:
            # IPs are many, their answers few: intern on the answer, which the geolocator caches.
            return self._geolocator.lookup(evidence[0]), evidence[1]
        return evidence

    def _decide(self, findings: tuple[Finding, ...]) -> Decision:
        for finding in findings:
            if finding.blocks:
                others = tuple(f.text for f in findings if f is not finding)
                return Decision(None, finding.signal, f"unreadable: {finding.text}", None, others)
        usable = [f for f in findings if f.usable]
        if not usable:
            if findings:
                reason = "no-signal: " + "; ".join(f.text for f in findings)
            else:
                reason = "no-signal: the event carries none of " + ", ".join(self._signals)
            return Decision(None, NO_SIGNAL, reason)
        decider = usable[0]
        ignored = tuple(f.text for f in findings if f is not decider)
        if decider.region is None:
            return Decision(None, decider.signal, f"unassigned: {decider.text}", decider.country, ignored)
        disagreeing = [f for f in usable[1:] if f.region != decider.region]
        if disagreeing and self._quarantine_conflicts:
            reason = "conflict: " + " vs ".join(f.text for f in (decider, *disagreeing))
            return Decision(None, CONFLICT, reason, decider.country, ignored)
        return Decision(decider.region, decider.signal, decider.text, decider.country, ignored)

    # Interpreters: one (value, field) pair in, one Finding out. Texts name the country, never the value.

    def _place(self, signal: str, country: str, field: str) -> Finding:
        region = self._country_regions.get(country)
        if region is None:
            return Finding(signal, country, None, True, False, f"{signal}: {country}, in no region ({field})")
        return Finding(signal, country, region, True, False, f"{signal}: {country} -> {region} ({field})")

    @staticmethod
    def _unusable(signal: str, problem: str, field: str, blocks: bool = False) -> Finding:
        return Finding(signal, None, None, False, blocks, f"{signal}: {problem} ({field})")

    def _declared(self, value: str, field: str) -> Finding:
        declared = value.strip()
        if declared in self._regions:
            return Finding("declared", None, declared, True, False, f"declared: {declared} ({field})")
        if declared.upper() in KNOWN_COUNTRIES:
            return self._place("declared", declared.upper(), field)
        return self._unusable("declared", "neither a region nor an ISO 3166-1 country", field, blocks=True)

    def _upstream_country(self, value: str, field: str) -> Finding:
        country = value.strip().upper()
        if country in KNOWN_COUNTRIES:
            return self._place("upstream_country", country, field)
        # CDNs send XX for unknown and T1 for Tor: honest "don't know", so the next signal decides.
        return self._unusable("upstream_country", "not an ISO 3166-1 country", field)

    def _ip(self, value: str, field: str) -> Finding:
        answer: IpCountry = self._geolocator.lookup(value)
        if answer.country is None:
            return self._unusable("ip", _IP_PROBLEMS[answer.reason], field)
        return self._place("ip", answer.country, field)

    def _weak(self, signal: str, country_of: Callable[[str], str | None]) -> Callable[[str, str], Finding]:
        def interpret(value: str, field: str) -> Finding:
            country = country_of(value.strip())
            if country is None:
                return self._unusable(signal, "names no country", field)
            return self._place(signal, country, field)

        return interpret
