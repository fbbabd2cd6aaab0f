"""Apply a set of field rules to one event: keep, drop, pseudonymize, tokenize or generalize its fields.

Two passes make a copy safe to leave its region. The first transforms the fields a
format is known to keep personal data in, by path (and, inside trait containers
such as Segment traits or Snowplow entities, by key name). The second scans the
serialized copy for emails, phone numbers and IP addresses that sit anywhere else
(free text, URL query strings) and treats them as `found_in_text` says. Only the
branches that change are copied; the input is never mutated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.config import FieldRules
from streams.erasure import normalize_subject
from streams.formats.base import (
    EACH,
    EMAIL_KEYS,
    PERSON_KEYS,
    PHONE_KEYS,
    CollectorFormat,
    Path,
    get_path,
    parse_path,
    path_text,
)
from streams.generalize import DROP, country_only, hour_of, ip_prefix, user_agent_family
from streams.keys import KeyRing, PseudonymKey
from streams.pii_scan import PiiKind, ValueScanner
from streams.pseudonymize import Pseudonymizer, normalize_email, normalize_identifier
from streams.subject_keys import SubjectKeys
from streams.tokens import token

# Keys for a position finer than the country, wherever they sit inside a trait container.
GEO_KEYS = frozenset(
    {"latitude", "longitude", "lat", "lon", "lng", "latitudeLongitudeAccuracy", "altitude", "city", "zip",
     "zipcode", "postal_code", "postalCode", "postcode"}
)  # fmt: skip
# Inside a geo object, what "generalize to the country" keeps.
COUNTRY_KEYS = frozenset(
    {"country", "country_id", "countryCode", "country_code", "continent", "continent_id", "subcontinent_id"}
)
_KIND_BY_KEY = {
    **dict.fromkeys(PERSON_KEYS, "name"),
    **dict.fromkeys(EMAIL_KEYS, "email"),
    **dict.fromkeys(PHONE_KEYS, "phone"),
    **dict.fromkeys(GEO_KEYS, "geo"),
}
REDACTED = "redacted"  # what a value found in text becomes when the rules drop it


@dataclass(frozen=True, slots=True)
class _Leaf:
    kind: str
    transform: str
    label: str
    # The transform bound to its kind, chosen once when the rules are compiled.
    change: Callable[[Any, _Event], Any] = field(compare=False, default=lambda value, event: value)


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled trie level: the keys to look up, and the rule for every element (EACH), if any."""

    keyed: tuple[tuple[str | int, Any], ...]
    each: Any


@dataclass(frozen=True, slots=True)
class _Traits:
    """A trait container: its person, email, phone and geo keys are personal at any depth.

    `inner` holds explicit paths inside the container; they apply first and win over key names.
    It is a dict while the rules compile, then a _Node, or None when there are none.
    """

    label: str
    inner: Any = field(default_factory=dict)


_Trie = dict[str | int, Any]  # key → _Trie | _Leaf | _Traits


@dataclass(slots=True)
class CopyReport:
    """What one set of rules did to one event, for the audit: field labels and counts, never values."""

    fields: list[tuple[str, str]] = field(default_factory=list)  # (field, transform)
    found_in_text: dict[str, int] = field(default_factory=dict)  # kind → occurrences replaced
    key_version: int | None = None


class FieldTransformer:
    """One region's copies under one set of field rules. Built once; shared by every event of the region."""

    def __init__(
        self,
        rules: FieldRules,
        region: str,
        keys: KeyRing,
        subjects: SubjectKeys,
        *,
        tokenize_as_pseudonymize: bool = False,
    ) -> None:
        self.rules = rules
        self.region = region
        self.keys = keys
        self._subjects = subjects
        # An erased subject's events are fully pseudonymized: no new per-subject key is made for them.
        self._tokenize = "pseudonymize" if tokenize_as_pseudonymize else "tokenize"
        self._tries: dict[str, _Node] = {}
        self._key: PseudonymKey | None = None
        self._key_checked_at = -1.0  # monotonic time the current key was last asked of the ring
        self._pseudonymizer: Pseudonymizer | None = None
        self._scanner = ValueScanner(self._replace_found) if rules.found_in_text != "keep" else None
        self._uses_key = any(
            transform in {"pseudonymize", "tokenize"}
            for transform in (*(getattr(rules, kind) for kind in _RULE_KINDS), rules.found_in_text)
        ) or any(t in {"pseudonymize", "tokenize"} for paths in rules.paths.values() for t in paths.values())
        self.needs_subject = self._tokenize == "tokenize" and _uses_tokenize(rules)

    def apply(
        self, event: dict[str, Any], collector: CollectorFormat, envelope: dict[str, Any], subject: str | None
    ) -> tuple[bytes, CopyReport]:
        """The event's bytes under these rules, in its own format, and what was done."""
        report = CopyReport()
        if self._uses_key:
            report.key_version = self._current_key().version
        trie = self._tries.get(collector.name)
        if trie is None:
            trie = self._tries[collector.name] = self._compile(collector)
        expanded = collector.expanded(event)
        changed = self._walk(expanded, trie, _Event(report, subject))
        value = collector.encode(collector.compacted(changed), envelope)
        if self._scanner is not None:
            value, found = self._scanner.scrub(value)
            if found:
                report.found_in_text = {kind.value: count for kind, count in found.items()}
        return value, report

    def _current_key(self) -> PseudonymKey:
        # Asking the ring checks retire dates against the clock; once a second is often enough.
        now = time.monotonic()
        key = self._key
        if key is None or now - self._key_checked_at > _KEY_RECHECK_SECONDS:
            # KeyUnavailable propagates on purpose: no key means hold the event, never send it in the clear.
            key = self.keys.for_region(self.region)
            if key is not self._key:
                self._key, self._pseudonymizer = key, Pseudonymizer(key)
            self._key_checked_at = now
        return key

    def set_keys(self, keys: KeyRing) -> None:
        self.keys = keys
        self._key, self._key_checked_at = None, -1.0

    # -- compiling the rules against a format's fields, once per format --------------------------------

    def _compile(self, collector: CollectorFormat) -> _Node:
        return _frozen(self._trie(collector))

    def _trie(self, collector: CollectorFormat) -> _Trie:
        trie: _Trie = {}
        personal = collector.personal
        for path in personal.trait_containers:
            _insert(trie, path, _Traits(_label(path)))
        for kind, paths in personal.by_kind().items():
            transform = getattr(self.rules, kind)
            if transform == "keep":
                continue
            for path in paths:
                _insert(trie, path, self._leaf_rule(kind, transform, _label(path)))
        for text, transform in self.rules.paths.get(collector.name, {}).items():  # type: ignore[call-overload]
            _insert(trie, parse_path(text), self._leaf_rule("path", transform, text))
        return trie

    def _leaf_rule(self, kind: str, transform: str, label: str) -> _Leaf:
        if transform == "generalize":
            generalize = _GENERALIZERS.get(kind, _dropped)

            def change(value: Any, event: _Event) -> Any:
                event.report.fields.append((label, transform))
                return generalize(value)

        else:

            def change(value: Any, event: _Event) -> Any:
                return self._leaf(value, kind, transform, label, event)

        return _Leaf(kind, transform, label, change)

    # -- the walk: copy-on-write along the paths that exist in this event ------------------------------

    def _walk(self, node: Any, trie: _Node, event: _Event) -> Any:
        if node.__class__ is dict:
            copy: dict[str, Any] | None = None
            for key, rule in trie.keyed:
                value = node.get(key, _ABSENT)
                if value is _ABSENT or value is None:
                    continue
                new = self._rule(value, rule, event)
                if new is not value:
                    if copy is None:
                        copy = dict(node)
                    if new is DROP:
                        del copy[key]  # type: ignore[arg-type]
                    else:
                        copy[key] = new  # type: ignore[index]
            each = trie.each
            if each is not None:
                for key, value in (copy or node).items():
                    new = self._rule(value, each, event)
                    if new is not value:
                        if copy is None:
                            copy = dict(node)
                        copy[key] = new if new is not DROP else None
            return node if copy is None else copy
        if node.__class__ is list and trie.each is not None:
            each = trie.each
            items = [self._rule(item, each, event) for item in node]
            if all(new is old for new, old in zip(items, node, strict=True)):
                return node
            return [item for item in items if item is not DROP]
        return node

    def _rule(self, value: Any, rule: Any, event: _Event) -> Any:
        kind = rule.__class__
        if kind is _Leaf:
            return rule.change(value, event)
        if kind is _Node:
            return self._walk(value, rule, event)
        if rule.inner is not None:
            value = self._walk(value, rule.inner, event)
        return self._traits(value, rule.label, event)

    def _traits(self, node: Any, label: str, event: _Event) -> Any:
        if isinstance(node, dict):
            copy: dict[str, Any] | None = None
            for key, value in node.items():
                kind = _KIND_BY_KEY.get(key)
                if kind is not None:
                    transform = getattr(self.rules, kind)
                    new = value if transform == "keep" else self._leaf(value, kind, transform, "", event)
                    if new is not value:
                        event.report.fields.append((f"{label}.{key}", transform))
                else:
                    new = self._traits(value, label, event)
                if new is not value:
                    if copy is None:
                        copy = dict(node)
                    if new is DROP:
                        del copy[key]
                    else:
                        copy[key] = new
            return node if copy is None else copy
        if isinstance(node, list):
            items = [self._traits(item, label, event) for item in node]
            return node if all(n is o for n, o in zip(items, node, strict=True)) else items
        return node

    def _leaf(self, value: Any, kind: str, transform: str, label: str, event: _Event) -> Any:
        if value is None:
            return value
        if transform == "drop":
            new: Any = DROP
        elif transform == "pseudonymize":
            if value.__class__ is str:
                new = self._pseudonym(value, kind)
            else:
                new = self._each_scalar(value, lambda v: self._pseudonym(v, kind))
        elif transform == "tokenize":
            new = self._each_scalar(value, lambda v: self._token(v, kind, event.subject))
        elif transform == "generalize":
            new = _GENERALIZERS.get(kind, _dropped)(value)
        else:  # keep (only explicit paths reach here)
            return value
        if label:
            event.report.fields.append((label, transform))
        return new

    @staticmethod
    def _each_scalar(value: Any, change: Callable[[Any], str]) -> Any:
        # A field may hold a list (GA4's hashed emails) or an object (GA4 user properties' {"value": ...}).
        if isinstance(value, bool):
            return value
        if isinstance(value, str | int | float):
            return change(value)
        if isinstance(value, list):
            return [FieldTransformer._each_scalar(item, change) for item in value]
        if isinstance(value, dict):
            return {key: FieldTransformer._each_scalar(item, change) for key, item in value.items()}
        return DROP

    def _pseudonym(self, value: Any, kind: str) -> str:
        assert self._pseudonymizer is not None  # set in apply whenever the rules pseudonymize
        return self._pseudonymizer.of(value, kind)

    def _token(self, value: Any, kind: str, subject: str | None) -> str:
        if self._tokenize != "tokenize":
            return self._pseudonym(value, kind)
        normalized = normalize_email(value) if kind == "email" else normalize_identifier(value)
        subject_key = self._subjects.key_for(self.region, subject or normalized, self.keys)
        if subject_key is None:  # erased while this event was on its way: never reversible again
            return self._pseudonym(value, kind)
        return token(normalized, subject_key, self.region)

    def _replace_found(self, kind: PiiKind, value: str) -> str:
        if self.rules.found_in_text == "drop":
            return REDACTED
        if kind is PiiKind.IP:
            truncated = ip_prefix(value)
            return REDACTED if truncated is DROP else str(truncated)
        return self._pseudonym(value, kind.value)


@dataclass(slots=True)
class _Event:
    report: CopyReport
    subject: str | None


_RULE_KINDS = ("user_id", "anonymous_id", "email", "phone", "name", "ip", "geo", "user_agent", "timestamp")


def _uses_tokenize(rules: FieldRules) -> bool:
    return any(getattr(rules, kind) == "tokenize" for kind in _RULE_KINDS) or any(
        t == "tokenize" for paths in rules.paths.values() for t in paths.values()
    )


def _frozen(trie: _Trie) -> _Node:
    """The trie as the walk reads it: tuples instead of dicts, EACH apart."""

    def rule(value: Any) -> Any:
        if isinstance(value, dict):
            return _frozen(value)
        if isinstance(value, _Traits):
            return _Traits(value.label, _frozen(value.inner) if value.inner else None)
        return value

    keyed = tuple((key, rule(value)) for key, value in trie.items() if key != EACH)
    return _Node(keyed, rule(trie[EACH]) if EACH in trie else None)


def _dropped(value: Any) -> Any:
    return DROP


def _geo(value: Any) -> Any:
    # A geo object keeps its country; a finer field on its own (a city, a latitude) goes.
    return country_only(value, COUNTRY_KEYS) if isinstance(value, dict) else DROP


_GENERALIZERS: dict[str, Callable[[Any], Any]] = {
    "ip": ip_prefix,
    "timestamp": hour_of,
    "user_agent": user_agent_family,
    "geo": _geo,
}
_ABSENT = object()
_KEY_RECHECK_SECONDS = 1.0


def _insert(trie: _Trie, path: Path, rule: _Leaf | _Traits) -> None:
    node = trie
    for key in path[:-1]:
        child = node.get(key)
        if isinstance(child, _Traits):  # a path inside a container: applied before the key sweep
            child = child.inner
        elif not isinstance(child, dict):
            child = node[key] = {}
        node = child
    last = path[-1]
    if isinstance(rule, _Traits) and isinstance(node.get(last), dict):
        rule.inner.update(node[last])  # paths already inserted below a container that comes later
    node[last] = rule


def _label(path: Path) -> str:
    return path_text(tuple("*" if part == EACH else part for part in path))


def subject_of(event: dict[str, Any], collector: CollectorFormat) -> str | None:
    """Who the event is about, as erasure requests name them: its user id, else its anonymous id."""
    personal = collector.personal
    for path in (*personal.user_id, *personal.anonymous_id):
        value = get_path(event, path)
        if isinstance(value, str | int) and not isinstance(value, bool):
            subject = normalize_subject(value)
            if subject:
                return subject
    return None
